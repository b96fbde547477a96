/**
 * Issue 6, part 5: the access review names every member's roles, effective permissions
 * (with the role or direct grant behind each), MFA, last sign-in, status and risk flags,
 * and the machine applications with their grants; as JSON and as CSV.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KyselyPlugin } from 'kysely';
import { TOTP } from 'otpauth';
import { reviewTenants } from '../../../src/ops/access-review/review.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

interface Reviewed {
  user_id: string;
  email: string;
  roles: string[];
  permissions: { permission: string; from: string[] }[];
  administrator: boolean;
  mfa: { enrolled: boolean; factors: string[] };
  flags: string[];
  status: string;
  last_login_at: string | null;
}

/** Parses RFC 4180 CSV (quoted cells, doubled quotes, CRLF) into rows of cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  for (const line of text.split('\r\n').filter(Boolean)) {
    const cells: string[] = [];
    for (const match of line.matchAll(/"((?:[^"]|"")*)"(,|$)/g)) cells.push((match[1] as string).replace(/""/g, '"'));
    rows.push(cells);
  }
  return rows;
}

describe('access review', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  const ids: Record<string, string> = {};

  const review = async (token: string, tenantId: string, query = '') => {
    const response = await gh.request('GET', `/api/v1/tenants/${tenantId}/access-review${query}`, { token });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  };
  const member = (body: { members: Reviewed[] }, id: string) => body.members.find((m) => m.user_id === id) as Reviewed;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    const roles = await gh.systemRoleIds();
    const auditor = await gh.created('/api/v1/roles', acme.token, {
      name: 'Auditor',
      permissions: ['tenant.audit.read', 'tenant.profile.read'],
    });
    ids.plain = await gh.createUser(acme.token, { email: 'plain@acme.test', password: PASSWORD });
    ids.granted = await gh.createUser(acme.token, { email: 'granted@acme.test', password: PASSWORD, roles: [roles.USER, auditor.id] });
    const patched = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/members/${ids.granted}`, {
      token: acme.token,
      body: { permissions: ['tenant.account.read', 'tenant.profile.read'] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    ids.invited = await gh.createUser(acme.token, { email: 'invited@acme.test' });
    ids.dormant = await gh.createUser(acme.token, { email: 'dormant@acme.test', password: PASSWORD });
    const longAgo = new Date(Date.now() - 100 * 24 * 3600_000);
    await gh.ctx.db
      .updateTable('users')
      .set({ last_login_at: longAgo, created_at: longAgo } as never)
      .where('id', '=', ids.dormant)
      .execute();
    ids.formula = await gh.createUser(acme.token, {
      email: 'formula@acme.test',
      password: PASSWORD,
      name: '=HYPERLINK("http://evil.test","x")',
    });
    ids.signedIn = await gh.createUser(acme.token, { email: 'recent@acme.test', password: PASSWORD });
    await gh.signIn('recent@acme.test', PASSWORD);

    const api = await gh.created('/api/v1/apis', acme.token, {
      identifier: 'urn:gatehouse:acme:billing',
      name: 'Billing',
      permissions: [{ value: 'read:bills' }, { value: 'write:bills' }],
    });
    const machine = await gh.created('/api/v1/applications', acme.token, { name: 'Nightly export', type: 'm2m' });
    ids.machine = machine.id;
    await gh.created(`/api/v1/applications/${machine.id}/grants`, acme.token, { api_id: api.id, permissions: ['read:bills'] });
    await gh.created('/api/v1/applications', acme.token, { name: 'Portal', type: 'spa', redirect_uris: ['https://portal.acme.test/cb'] });
  });
  after(() => gh.stop());

  it('names every member with roles, permissions and where each comes from, MFA, last sign-in and status', async () => {
    const body = await review(acme.token, acme.tenantId);
    assert.equal(body.tenant.id, acme.tenantId);
    assert.equal(body.inactive_days, 90);
    assert.equal(body.members.length, 7);
    const granted = member(body, ids.granted!);
    assert.deepEqual(granted.roles.sort(), ['Auditor', 'USER']);
    assert.deepEqual(granted.permissions, [
      { permission: 'tenant.account.read', from: ['direct'] },
      { permission: 'tenant.audit.read', from: ['role:Auditor'] },
      { permission: 'tenant.profile.read', from: ['role:Auditor', 'role:USER', 'direct'] },
    ]);
    assert.equal(granted.administrator, false);
    assert.deepEqual(granted.mfa, { enrolled: false, factors: [] });
    const recent = member(body, ids.signedIn!);
    assert.ok(recent.last_login_at, 'last sign-in');
    assert.equal(member(body, ids.invited!).status, 'pending');
    const tenantAdmin = member(body, acme.adminId);
    assert.equal(tenantAdmin.administrator, true);
    assert.deepEqual(tenantAdmin.permissions, [{ permission: 'tenant.all', from: ['role:TENANT_ADMIN'] }]);
  });

  it('flags administrators without MFA, inactive members, direct grants, pending invitations', async () => {
    const body = await review(acme.token, acme.tenantId);
    assert.deepEqual(member(body, acme.adminId).flags, ['admin_without_mfa']);
    assert.deepEqual(member(body, ids.granted!).flags, ['direct_grants']);
    assert.deepEqual(member(body, ids.invited!).flags, ['invitation_pending']);
    assert.deepEqual(member(body, ids.dormant!).flags, ['inactive']);
    assert.deepEqual(member(body, ids.signedIn!).flags, []);
    assert.deepEqual(member(body, ids.plain!).flags, [], 'created just now: not inactive yet');
    assert.deepEqual(body.summary, {
      members: 7,
      administrators: 1,
      machine_applications: 1,
      admin_without_mfa: 1,
      inactive: 1,
      direct_grants: 1,
      restricted_permissions: 0,
      invitation_pending: 1,
    });
    // The threshold is the caller's.
    assert.deepEqual(member(await review(acme.token, acme.tenantId, '?inactive_days=365'), ids.dormant!).flags, []);
    assert.deepEqual(member(await review(acme.token, acme.tenantId, '?inactive_days=1'), ids.plain!).flags, []);
  });

  it('lists machine applications with their grants, and no other applications', async () => {
    const body = await review(acme.token, acme.tenantId);
    assert.equal(body.machine_applications.length, 1);
    const [machine] = body.machine_applications;
    assert.equal(machine.application_id, ids.machine);
    assert.equal(machine.name, 'Nightly export');
    assert.deepEqual(
      machine.grants.map((g: { api_identifier: string; permissions: string[] }) => [g.api_identifier, g.permissions]),
      [['urn:gatehouse:acme:billing', ['read:bills']]],
    );
  });

  it('does not flag an administrator with a confirmed factor, and names the factor', async () => {
    const gamma = await gh.tenantWithAdmin('gamma');
    const session = await gh.signIn(gamma.adminEmail, PASSWORD);
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/otp', { token: session, body: {} });
    assert.equal(enrolment.status, 201, JSON.stringify(enrolment.body));
    const unconfirmed = member(await review(gamma.token, gamma.tenantId), gamma.adminId);
    assert.deepEqual(unconfirmed.flags, ['admin_without_mfa'], 'an unconfirmed factor does not count');
    const otp = new TOTP({ secret: enrolment.body.secret, algorithm: 'SHA1', digits: 6, period: 30 }).generate();
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, { token: session, body: { otp } });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    const reviewed = member(await review(gamma.token, gamma.tenantId), gamma.adminId);
    assert.deepEqual(reviewed.mfa, { enrolled: true, factors: ['otp'] });
    assert.deepEqual(reviewed.flags, []);
    // Resetting the factors (an incident action of the MFA API) brings the flag back.
    const reset = await gh.request('DELETE', `/api/v1/users/${gamma.adminId}/mfa`, { token: admin });
    assert.equal(reset.status, 204, JSON.stringify(reset.body));
    assert.deepEqual(member(await review(admin, gamma.tenantId), gamma.adminId).flags, ['admin_without_mfa']);
  });

  it('runs the same few queries for 1 member as for many (no query per member)', async () => {
    let queries = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        queries++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const ctx = { ...gh.ctx, db: gh.ctx.db.withPlugin(counting) };
    const tenants = await gh.ctx.db.selectFrom('tenants').select(['id', 'slug', 'name', 'status']).execute();
    // Members, their roles (direct and through groups), direct grants, groups and MFA factors,
    // machine applications, and (when there are any) their grants: seven at most, whatever
    // the number of members or tenants.
    const counts: Record<string, number> = {};
    for (const tenant of tenants) {
      queries = 0;
      const [reviewed] = await reviewTenants(ctx, [tenant], { inactiveDays: 90 });
      counts[`${tenant.slug}:${reviewed!.members.length} members`] = queries;
    }
    for (const count of Object.values(counts)) assert.ok(count <= 7, `queries by tenant: ${JSON.stringify(counts)}`);
    assert.ok(Object.keys(counts).some((k) => k.endsWith(':1 members')) && Object.keys(counts).some((k) => k.endsWith(':7 members')));
    queries = 0;
    await reviewTenants(ctx, tenants, { inactiveDays: 90 });
    assert.ok(queries <= 7, `and for ${tenants.length} tenants at once: ${queries}`);
  });

  it('flags restricted permissions (a system administrator in the system tenant)', async () => {
    const { id, systemTenantId } = await gh.systemAdmin();
    const body = await review(admin, systemTenantId);
    const sysAdmin = member(body, id);
    assert.deepEqual(sysAdmin.flags, ['admin_without_mfa', 'restricted_permissions']);
    assert.deepEqual(sysAdmin.permissions, [{ permission: 'all', from: ['role:ADMIN'] }]);
  });

  it('answers CSV for format=csv or Accept: text/csv: header row, quoted cells, formulas neutralized', async () => {
    const response = await gh.app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${acme.tenantId}/access-review`,
      headers: { authorization: `Bearer ${acme.token}`, accept: 'text/csv' },
    });
    assert.equal(response.statusCode, 200);
    assert.match(response.headers['content-type'] as string, /^text\/csv/);
    assert.match(response.headers['content-disposition'] as string, /access-review-acme\.csv/);
    const rows = parseCsv(response.body);
    const [header, ...data] = rows;
    assert.deepEqual(header, [
      'kind',
      'tenant_id',
      'tenant_slug',
      'subject_id',
      'subject',
      'name',
      'status',
      'roles',
      'permissions',
      'administrator',
      'mfa_enrolled',
      'mfa_factors',
      'last_login_at',
      'flags',
    ]);
    assert.equal(data.filter((r) => r[0] === 'member').length, 7);
    const formula = data.find((r) => r[3] === ids.formula)!;
    assert.equal(formula[5], `'=HYPERLINK("http://evil.test","x")`, 'a formula is prefixed with a quote');
    const adminRow = data.find((r) => r[3] === acme.adminId)!;
    assert.equal(adminRow[13], 'admin_without_mfa');
    assert.equal(adminRow[9], 'true');
    const grantedRow = data.find((r) => r[3] === ids.granted)!;
    assert.equal(
      grantedRow[8],
      'tenant.account.read<direct>;tenant.audit.read<role:Auditor>;tenant.profile.read<role:Auditor|role:USER|direct>',
    );
    const app = data.find((r) => r[0] === 'application')!;
    assert.deepEqual([app[3], app[8], app[13]], [ids.machine, 'urn:gatehouse:acme:billing:read:bills', 'machine_application']);

    const byQuery = await gh.app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${acme.tenantId}/access-review?format=csv`,
      headers: { authorization: `Bearer ${acme.token}` },
    });
    assert.equal(byQuery.body, response.body);
  });

  it('is the own tenant’s only for a tenant administrator, and needs the permission', async () => {
    const other = await gh.tenantWithAdmin('other');
    const foreign = await gh.request('GET', `/api/v1/tenants/${other.tenantId}/access-review`, { token: acme.token });
    assert.equal(foreign.status, 404);
    const plainToken = await gh.tokenFor(await gh.signIn('plain@acme.test', PASSWORD), acme.tenantId);
    const refused = await gh.request('GET', `/api/v1/tenants/${acme.tenantId}/access-review`, { token: plainToken });
    assert.equal(refused.status, 403);
    const everything = await gh.request('GET', '/api/v1/access-review', { token: acme.token });
    assert.equal(everything.status, 403, 'the system-wide review is for system administrators');
    assert.equal(
      (await gh.request('GET', `/api/v1/tenants/${acme.tenantId}/access-review?inactive_days=0`, { token: acme.token })).status,
      400,
    );
    assert.equal((await gh.request('GET', `/api/v1/tenants/${acme.tenantId}/access-review?format=xml`, { token: acme.token })).status, 400);
  });

  it('gives a system administrator every tenant: pages of tenants as JSON, all of them as CSV', async () => {
    const slugs: string[] = [];
    let cursor: string | null = null;
    do {
      const response: { status: number; body: any } = await gh.request(
        'GET',
        `/api/v1/access-review?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
        { token: admin },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.ok(response.body.tenants.length <= 1);
      slugs.push(...response.body.tenants.map((t: { tenant: { slug: string } }) => t.tenant.slug));
      cursor = response.body.next_cursor;
    } while (cursor);
    assert.deepEqual(slugs.sort(), ['acme', 'gamma', 'other', 'system']);

    const csv = await gh.app.inject({
      method: 'GET',
      url: '/api/v1/access-review?format=csv',
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(csv.statusCode, 200);
    const rows = parseCsv(csv.body).slice(1);
    assert.deepEqual([...new Set(rows.map((r) => r[2]))].sort(), ['acme', 'gamma', 'other', 'system']);
    assert.equal(rows.filter((r) => r[2] === 'acme' && r[0] === 'member').length, 7);
  });

  it('done when: an administrator reads a review that names the admin without MFA, disables the compromised account and sees its token go inactive at once', async () => {
    const beta = await gh.tenantWithAdmin('beta');
    // A second administrator of beta, without MFA, whose account is compromised.
    const roles = await gh.systemRoleIds();
    const victimId = await gh.createUser(beta.token, { email: 'ops@beta.test', password: PASSWORD, roles: [roles.TENANT_ADMIN] });
    const stolen = await gh.tokenFor(await gh.signIn('ops@beta.test', PASSWORD), beta.tenantId);
    const introspect = () => gh.request('POST', '/api/v1/tokens/introspect', { token: admin, body: { token: stolen } });
    assert.equal((await introspect()).body.active, true);

    const body = await review(beta.token, beta.tenantId);
    const flagged = body.members.filter((m: Reviewed) => m.flags.includes('admin_without_mfa')).map((m: Reviewed) => m.email);
    assert.ok(flagged.includes('ops@beta.test'), 'the review names the admin without MFA');

    const disabled = await gh.request('POST', `/api/v1/users/${victimId}/disable`, { token: beta.token });
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    assert.deepEqual((await introspect()).body, { active: false }, 'inactive at once');
    assert.equal((await gh.request('GET', '/api/v1/users', { token: stolen })).status, 401, 'and refused by the admin API');
  });
});
