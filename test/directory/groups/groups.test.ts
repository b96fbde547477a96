/**
 * Issue 16.4, groups (decisions 360–369): the groups API, a member's roles as the union of
 * the direct ones and the groups' in every token (the OIH flow's and /oauth/token's) and
 * in the admin API's own checks, removal counting at once, the `groups` claim chosen per
 * API, and where each permission comes from in the members API and the access review.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { startListeningGatehouse } from '../../helpers/oidc.js';

const API = 'urn:gatehouse:groups-a:things';
const PLAIN_API = 'urn:gatehouse:groups-a:plain';

describe('groups: the API, the union of direct and group roles, removal at once, the groups claim, provenance', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let admin: string;
  let a: TenantAdmin;
  let editor: string;
  let auditor: string;
  let app: { client_id: string; client_secret: string };
  let apiId: string;
  let user: { id: string; email: string };

  const groups = (tenantId: string) => `/api/v1/tenants/${tenantId}/groups`;

  /** A password grant of the tenant's application for an API: the access token's claims. */
  async function oauthClaims(email: string, audience: string) {
    const response = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: email,
        password: PASSWORD,
        audience,
        scope: 'openid read:things',
        client_id: app.client_id,
        client_secret: app.client_secret,
      }),
    });
    const body = (await response.json()) as Record<string, string>;
    assert.equal(response.status, 200, JSON.stringify(body));
    return decodeJwt(body.access_token as string);
  }

  const oihToken = async (email: string, tenantId: string) => gh.tokenFor(await gh.signIn(email, PASSWORD), tenantId);

  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    a = await gh.tenantWithAdmin('groups-a');
    editor = (await gh.created('/api/v1/roles', a.token, { name: 'editor', permissions: ['tenant.account.read'] })).id;
    auditor = (await gh.created('/api/v1/roles', a.token, { name: 'auditor', permissions: ['tenant.audit.read'] })).id;
    const api = await gh.created('/api/v1/apis', a.token, {
      identifier: API,
      name: 'Things',
      permissions: [{ value: 'read:things' }],
      rbac: true,
      permissions_in_token: true,
      token_groups_claim: true,
    });
    apiId = api.id;
    assert.equal(api.token_groups_claim, true);
    await gh.created('/api/v1/apis', a.token, { identifier: PLAIN_API, name: 'Plain' });
    const granted = await gh.request('POST', `/api/v1/roles/${editor}/api-permissions`, {
      token: a.token,
      body: { permissions: [{ api_id: apiId, value: 'read:things' }] },
    });
    assert.ok(granted.status < 300, JSON.stringify(granted.body));
    app = await gh.created('/api/v1/applications', a.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.example/cb'],
      grant_types: ['authorization_code', 'password'],
    });
    const email = 'grace@groups-a.test';
    user = { id: await gh.createUser(a.token, { email, password: PASSWORD }), email };
  });
  after(() => gh.stop());

  it('creates, reads, lists, renames and refuses a second group of the same name in any letter case, each change audited', async () => {
    const created = await gh.request('POST', groups(a.tenantId), { token: a.token, body: { name: 'Reviewers', description: 'Read only' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.tenant_id, a.tenantId);
    assert.deepEqual(created.body.roles, []);
    const id = created.body.id as string;
    const again = await gh.request('POST', groups(a.tenantId), { token: a.token, body: { name: 'reviewers' } });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'group_name_taken');
    const read = await gh.request('GET', `${groups(a.tenantId)}/${id}`, { token: a.token });
    assert.equal(read.status, 200);
    assert.equal(read.body.description, 'Read only');
    const renamed = await gh.request('PATCH', `${groups(a.tenantId)}/${id}`, { token: a.token, body: { name: 'Readers' } });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.name, 'Readers');
    const listed = await gh.request('GET', groups(a.tenantId), { token: a.token });
    assert.ok(listed.body.groups.some((g: { id: string; name: string }) => g.id === id && g.name === 'Readers'));
    const empty = await gh.request('POST', groups(a.tenantId), { token: a.token, body: { name: '' } });
    assert.equal(empty.status, 400);
    assert.equal((await gh.request('DELETE', `${groups(a.tenantId)}/${id}`, { token: a.token })).status, 204);
    assert.equal((await gh.request('GET', `${groups(a.tenantId)}/${id}`, { token: a.token })).status, 404);
    for (const action of ['iam.group.created', 'iam.group.modified', 'iam.group.deleted']) {
      const events = await gh.auditEvents(admin, { action, target: id });
      assert.equal(events.length, 1, action);
      assert.equal(events[0]?.tenant_id, a.tenantId);
      assert.equal(events[0]?.actor_id, a.adminId);
    }
  });

  it('pages through a group’s members with ?limit=&cursor=', async () => {
    const group = await gh.created(groups(a.tenantId), a.token, { name: 'Paged' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await gh.createUser(a.token, { email: `paged-${i}@groups-a.test`, password: PASSWORD }));
    const added = await gh.request('POST', `${groups(a.tenantId)}/${group.id}/members`, { token: a.token, body: { users: ids } });
    assert.equal(added.status, 204, JSON.stringify(added.body));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: { members: { user_id: string }[]; next_cursor: string | null } } = await gh.request(
        'GET',
        `${groups(a.tenantId)}/${group.id}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: a.token },
      );
      seen.push(...page.body.members.map((m) => m.user_id));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].sort());
    const events = await gh.auditEvents(admin, { action: 'iam.group.memberAdded', target: ids[0] as string });
    assert.equal(events.length, 1);
    assert.equal(events[0]?.details.group, 'Paged');
  });

  it('a member holds the group’s roles next to the direct ones: in the OIH token, /oauth/token, /organizations and the admin API’s checks', async () => {
    const sales = await gh.created(groups(a.tenantId), a.token, { name: 'Sales', roles: [editor] });
    assert.deepEqual(sales.roles, [{ id: editor, name: 'editor' }]);
    const before = decodeJwt(await oihToken(user.email, a.tenantId));
    assert.deepEqual(before.roles, ['USER']);
    assert.equal((await gh.request('GET', '/api/v1/users', { token: await oihToken(user.email, a.tenantId) })).status, 403);

    const added = await gh.request('POST', `${groups(a.tenantId)}/${sales.id}/members`, { token: a.token, body: { users: [user.id] } });
    assert.equal(added.status, 204, JSON.stringify(added.body));
    // The union, in the OIH flow's token…
    const token = await oihToken(user.email, a.tenantId);
    const claims = decodeJwt(token);
    assert.deepEqual(claims.roles, ['USER', 'editor']);
    assert.deepEqual(claims.permissions, ['tenant.account.read', 'tenant.profile.read']);
    // …in /oauth/token's, with the API permission the group's role carries and the groups claim…
    const oauth = await oauthClaims(user.email, API);
    assert.deepEqual(oauth.roles, ['USER', 'editor']);
    assert.deepEqual(oauth.permissions, ['read:things']);
    assert.deepEqual(oauth.groups, ['Sales']);
    // …in the OIH organizations list…
    const session = await gh.signIn(user.email, PASSWORD);
    const orgs = await gh.request('GET', '/api/v1/organizations', { token: session });
    assert.deepEqual(orgs.body.organizations.find((o: { id: string }) => o.id === a.tenantId).roles, ['USER', 'editor']);
    // …and in the admin API's own authorization.
    assert.equal((await gh.request('GET', '/api/v1/users', { token })).status, 200);
    // A role held both ways is listed once.
    const both = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}/members/${user.id}`, {
      token: a.token,
      body: { roles: [(await gh.systemRoleIds()).USER as string, editor] },
    });
    assert.equal(both.status, 200, JSON.stringify(both.body));
    assert.deepEqual(decodeJwt(await oihToken(user.email, a.tenantId)).roles, ['USER', 'editor']);
    const direct = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}/members/${user.id}`, {
      token: a.token,
      body: { roles: [(await gh.systemRoleIds()).USER as string] },
    });
    assert.equal(direct.status, 200);
  });

  it('the groups claim is the API’s choice: off by default, on with token_groups_claim, switched by PATCH', async () => {
    const plain = await oauthClaims(user.email, PLAIN_API);
    assert.equal(plain.groups, undefined, 'no groups claim for an API that does not ask');
    assert.deepEqual(plain.roles, ['USER', 'editor']);
    const patched = await gh.request('PATCH', `/api/v1/apis/${apiId}`, { token: a.token, body: { token_groups_claim: false } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.token_groups_claim, false);
    // The engine's API lookup is cached for at most a few seconds, dropped through the change feed.
    let claims = await oauthClaims(user.email, API);
    for (let i = 0; i < 30 && claims.groups !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      claims = await oauthClaims(user.email, API);
    }
    assert.equal(claims.groups, undefined);
    await gh.request('PATCH', `/api/v1/apis/${apiId}`, { token: a.token, body: { token_groups_claim: true } });
  });

  it('the members API and the access review say where each permission comes from, naming the group', async () => {
    const members = await gh.members(a.token, a.tenantId);
    const grace = members.find((m) => m.user_id === user.id);
    assert.ok(grace);
    assert.deepEqual(
      grace.groups.map((g) => g.name),
      ['Sales'],
    );
    assert.deepEqual(grace.roles, [{ id: (await gh.systemRoleIds()).USER, name: 'USER' }], '`roles` are the direct ones');
    assert.deepEqual(grace.effective_permissions, ['tenant.account.read', 'tenant.profile.read']);
    assert.deepEqual(grace.permission_sources, [
      { permission: 'tenant.account.read', from: ['group:Sales'] },
      { permission: 'tenant.profile.read', from: ['role:USER'] },
    ]);
    const review = await gh.request('GET', `/api/v1/tenants/${a.tenantId}/access-review`, { token: a.token });
    assert.equal(review.status, 200, JSON.stringify(review.body));
    const reviewed = review.body.members.find((m: { user_id: string }) => m.user_id === user.id);
    assert.deepEqual(reviewed.roles, ['USER', 'editor']);
    assert.deepEqual(reviewed.groups, ['Sales']);
    assert.deepEqual(reviewed.permissions, [
      { permission: 'tenant.account.read', from: ['group:Sales'] },
      { permission: 'tenant.profile.read', from: ['role:USER'] },
    ]);
    const csv = await gh.app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${a.tenantId}/access-review?format=csv`,
      headers: { authorization: `Bearer ${a.token}` },
    });
    assert.equal(csv.statusCode, 200);
    assert.match(csv.body, /tenant\.account\.read<group:Sales>/);
  });

  it('removal takes effect at once: leaving the group, losing the group’s role, the group deleted (the same token is refused next request)', async () => {
    const group = await gh.created(groups(a.tenantId), a.token, { name: 'Auditors', roles: [auditor] });
    const path = `${groups(a.tenantId)}/${group.id}`;
    const join = () => gh.request('POST', `${path}/members`, { token: a.token, body: { users: [user.id] } });
    const canAudit = async (token: string) =>
      (await gh.request('GET', `/api/v1/audit-events?tenant=${a.tenantId}&limit=1`, { token })).status;

    assert.equal((await join()).status, 204);
    const token = await oihToken(user.email, a.tenantId);
    assert.deepEqual(decodeJwt(token).roles, ['USER', 'auditor', 'editor']);
    assert.equal(await canAudit(token), 200);

    // 1. the member leaves the group
    assert.equal((await gh.request('DELETE', `${path}/members/${user.id}`, { token: a.token })).status, 204);
    assert.equal(await canAudit(token), 403, 'the same token, the next request');
    assert.deepEqual(decodeJwt(await oihToken(user.email, a.tenantId)).roles, ['USER', 'editor']);
    assert.deepEqual((await oauthClaims(user.email, API)).groups, ['Sales']);
    assert.equal((await gh.request('DELETE', `${path}/members/${user.id}`, { token: a.token })).status, 404);

    // 2. the group loses the role
    assert.equal((await join()).status, 204);
    assert.equal(await canAudit(token), 200);
    assert.equal((await gh.request('DELETE', `${path}/roles/${auditor}`, { token: a.token })).status, 204);
    assert.equal(await canAudit(token), 403);
    assert.deepEqual((await gh.request('GET', `${path}/roles`, { token: a.token })).body.roles, []);

    // 3. the group is deleted
    assert.equal((await gh.request('POST', `${path}/roles`, { token: a.token, body: { roles: [auditor] } })).status, 204);
    assert.equal(await canAudit(token), 200);
    assert.equal((await gh.request('DELETE', path, { token: a.token })).status, 204);
    assert.equal(await canAudit(token), 403);
    assert.deepEqual(decodeJwt(await oihToken(user.email, a.tenantId)).roles, ['USER', 'editor']);

    for (const action of ['iam.group.roleAssigned', 'iam.group.roleRemoved']) {
      const events = await gh.auditEvents(admin, { action, target: group.id });
      assert.ok(events.length >= 1, action);
      assert.deepEqual(events[0]?.details.roles, ['auditor']);
    }
    assert.equal((await gh.auditEvents(admin, { action: 'iam.group.memberRemoved', target: user.id })).length, 1);
  });

  it('leaving the tenant leaves its groups (the rows go with the membership)', async () => {
    const email = 'leaver@groups-a.test';
    const leaver = await gh.createUser(a.token, { email, password: PASSWORD });
    const group = await gh.created(groups(a.tenantId), a.token, { name: 'Leavers', roles: [editor] });
    await gh.request('POST', `${groups(a.tenantId)}/${group.id}/members`, { token: a.token, body: { users: [leaver] } });
    assert.equal((await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/${leaver}`, { token: a.token })).status, 204);
    const members = await gh.request('GET', `${groups(a.tenantId)}/${group.id}/members`, { token: a.token });
    assert.deepEqual(members.body.members, []);
  });
});
