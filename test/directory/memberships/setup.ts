import { after, before } from 'node:test';
import { decodeJwt } from 'jose';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

export const UNKNOWN_ID = '0190f5a0-0000-7000-8000-000000000000';

// The server of the memberships tests, set by the hooks membershipsServer() registers
// (an import of a `let` is live: a test reads the value its file's `before` set).
export let gh: TestGatehouse;
/** The first system administrator's access token for the system tenant, its user id and that tenant's id. */
export let admin: string;
export let adminId: string;
export let systemTenantId: string;
/** Names → ids of the global roles. */
export let roles: Record<string, string>;
/** The tenants members-a and members-b, each with its administrator. */
export let a: TenantAdmin;
export let b: TenantAdmin;
/** A tenant role of A carrying tenant.account.read, and one of B. */
export let editorRole: string;
export let bRole: string;
/** How many users newUser() has made (its names and addresses carry the number). */
export let counter = 0;

/** Registers, in the calling describe, the hooks that start the server with tenants A and B and stop it. */
export function membershipsServer(): void {
  before(async () => {
    gh = await startGatehouse();
    ({ token: admin, id: adminId, systemTenantId } = await gh.systemAdmin());
    roles = await gh.systemRoleIds();
    a = await gh.tenantWithAdmin('members-a');
    b = await gh.tenantWithAdmin('members-b');
    editorRole = (await gh.created('/api/v1/roles', a.token, { name: 'editor', permissions: ['tenant.account.read'] })).id;
    bRole = (await gh.created('/api/v1/roles', b.token, { name: 'b-only', permissions: ['tenant.audit.read'] })).id;
    await gh.created('/api/v1/permission', admin, { key: 'read:invoices', description: 'Read invoices' });
    await gh.created('/api/v1/permission', b.token, { key: 'b:secret' });
  });
  after(() => gh.stop());
}

/**
 * A user with a password, a member of nothing; returns the id. Homeless, or homed in `home`: a tenant
 * administrator adds by id only users homed in the own tenant (decision 183).
 */
export async function newUser(prefix = 'user', home?: string) {
  counter++;
  const email = `${prefix}-${counter}@members.test`;
  const id = await gh.createUser(admin, { email, password: PASSWORD, name: `${prefix} ${counter}` });
  // Homed there but a member of nothing: set in the database (the API makes a homed user a member at once).
  if (home) await gh.ctx.db.updateTable('users').set({ home_tenant_id: home }).where('id', '=', id).execute();
  return { id, email };
}

export const addMember = async (token: string, tenantId: string, body: Record<string, unknown>) =>
  gh.request('POST', `/api/v1/tenants/${tenantId}/members`, { token, body });

export const listMembers = (tenantId: string, token = admin) => gh.members(token, tenantId);

export const memberOf = async (tenantId: string, userId: string) => (await listMembers(tenantId)).find((m) => m.user_id === userId);

/** The events with this action about this target, as the system administrator sees them. */
export const auditEvents = (action: string, target: string) => gh.auditEvents(admin, { action, target });

/** Signs the user in and decodes the access token issued for the tenant. */
export async function tokenClaims(email: string, tenantId: string) {
  const token = await gh.tokenFor(await gh.signIn(email, PASSWORD), tenantId);
  return { token, claims: decodeJwt(token) };
}
