import { before } from 'node:test';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { admin, gh, twoTenantsServer } from '../../helpers/two-tenants.js';

export interface RoleBody {
  id: string;
  tenant_id: string | null;
  name: string;
  description: string;
  permissions: string[];
  is_system: boolean;
  created_at: string;
  updated_at: string;
}

export const MISSING_ID = '00000000-0000-7000-8000-000000000000';

/** The global roles, set by the hook rolesServer() registers (an import of a `let` is live). */
export let systemRoles: Record<'ADMIN' | 'TENANT_ADMIN' | 'USER', RoleBody>;
let counter = 0;

/** Registers, in the calling describe, the hooks of twoTenantsServer() and one that reads the global roles. */
export function rolesServer(): void {
  twoTenantsServer();
  before(async () => {
    const roles = (await gh.request('GET', '/api/v1/roles', { token: admin })).body.roles as RoleBody[];
    const byName = (name: string) => roles.find((r) => r.name === name && r.tenant_id === null)!;
    systemRoles = { ADMIN: byName('ADMIN'), TENANT_ADMIN: byName('TENANT_ADMIN'), USER: byName('USER') };
  });
}

/** Creates a role through the API and returns it (fails the test on a non-201). */
export const createRole = (token: string, body: Record<string, unknown>) => gh.created<RoleBody>('/api/v1/roles', token, body);

/** A user homed in the tenant of `tenantAdminToken` holding exactly `roles`, with an access token for it. */
export async function memberWithRoles(tenantAdminToken: string, tenantId: string, roles: string[]) {
  const email = `member${++counter}@roles.test`;
  const userId = await gh.createUser(tenantAdminToken, { email, password: PASSWORD, roles });
  const token = await gh.tokenFor(await gh.signIn(email, PASSWORD), tenantId);
  return { userId, email, token };
}
