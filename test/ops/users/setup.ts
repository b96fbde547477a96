import { after, before } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

export const UNKNOWN_ID = '0190f5a0-0000-7000-8000-000000000000';

// The server of the users API tests, set by the hooks usersServer() registers
// (an import of a `let` is live: a test reads the value its file's `before` set).
export let gh: TestGatehouse;
/** The first system administrator's access token for the system tenant, and its user id. */
export let admin: string;
export let adminId: string;
/** Names → ids of the global roles. */
export let roles: Record<string, string>;
/** The tenants users-a and users-b, each with its administrator. */
export let a: TenantAdmin;
export let b: TenantAdmin;

/** Registers, in the calling describe, the hooks that start the server with tenants A and B and stop it. */
export function usersServer(): void {
  before(async () => {
    gh = await startGatehouse();
    ({ token: admin, id: adminId } = await gh.systemAdmin());
    roles = await gh.systemRoleIds();
    a = await gh.tenantWithAdmin('users-a');
    b = await gh.tenantWithAdmin('users-b');
  });
  after(() => gh.stop());
}

/** The events with this action about this target, as the system administrator sees them. */
export const auditEvents = (action: string, target: string) => gh.auditEvents(admin, { action, target });

export const signInStatus = async (username: string, password: string) =>
  (await gh.request('POST', '/api/v1/session', { body: { username, password } })).status;

export const getUser = async (id: string) => gh.request('GET', `/api/v1/users/${id}`, { token: admin });

export const members = (tenantId: string) => gh.members(admin, tenantId);

/** A plain member of the tenant (USER role) with an access token for it. */
export async function plainMemberToken(tenantId: string, email: string) {
  await gh.createUser(admin, { email, password: PASSWORD, tenant: tenantId });
  return gh.tokenFor(await gh.signIn(email, PASSWORD), tenantId);
}
