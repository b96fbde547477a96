import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { insertConnection } from '../../helpers/connections.js';
import { API, federatedSignIn, startWorld, stopWorld, tokensOf, UPSTREAM_SECRET, userByEmail, type World } from './setup.js';

/**
 * Issue 16.4 (decision 367): a connection's mapping can make a user join groups of the
 * tenant, as it grants roles; the group's roles then count in the tokens, and with
 * `on_each_login` the user leaves the group when the claim stops matching, never a group an
 * administrator put them in. Driven through a real upstream OpenID provider.
 */
describe('federation: a mapping to a group', () => {
  let w: World;
  let engineering: string;
  const accounts = {
    eve: { email: 'eve@corp.test', email_verified: true, groups: ['staff', 'engineering'] },
    sam: { email: 'sam@corp.test', email_verified: true, groups: ['staff'] },
  };
  const groupsPath = () => `/api/v1/tenants/${w.acme.tenantId}/groups`;

  before(async () => {
    w = await startWorld(accounts, { claims: { groups: ['groups'] } });
    const engineer = await w.gh.created('/api/v1/roles', w.acme.token, { name: 'engineer', permissions: ['tenant.account.read'] });
    engineering = (await w.gh.created(groupsPath(), w.acme.token, { name: 'Engineering', roles: [engineer.id] })).id;
    await w.gh.created(groupsPath(), w.acme.token, { name: 'Staff' });
    // A group a system administrator gave ADMIN: a tenant's connection never makes anyone join it.
    const root = await w.gh.created(groupsPath(), w.acme.token, { name: 'Root' });
    const given = await w.gh.request('POST', `${groupsPath()}/${root.id}/roles`, {
      token: await w.gh.adminToken(),
      body: { roles: [(await w.gh.systemRoleIds()).ADMIN] },
    });
    assert.equal(given.status, 204);
    const api = (await w.gh.request('GET', `/api/v1/apis?identifier=${encodeURIComponent(API)}`, { token: w.acme.token })).body.apis[0];
    const patched = await w.gh.request('PATCH', `/api/v1/apis/${api.id}`, { token: w.acme.token, body: { token_groups_claim: true } });
    assert.equal(patched.status, 200);
    await insertConnection(w.gh, {
      name: 'corp',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: { ...w.oidcOptions, scope: 'openid email profile groups' },
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
      mapping: [
        { claim: 'groups', value: 'engineering', roles: [], groups: ['engineering'] },
        { claim: 'groups', value: 'staff', roles: [], groups: ['Staff', 'no-such-group', 'Root'] },
      ],
    });
  });
  after(() => stopWorld(w));

  it('the provider’s groups claim makes the user join the mapped groups (never one holding a restricted role): their roles and the groups claim are in the access token', async () => {
    const eve = await tokensOf(w, await federatedSignIn(w, { params: { connection: 'corp' }, account: 'eve' }));
    assert.deepEqual(eve.access.roles, ['USER', 'engineer']);
    assert.deepEqual(eve.access.groups, ['Engineering', 'Staff']);
    const user = await userByEmail(w, 'eve@corp.test');
    assert.ok(user);
    const members = await w.gh.request('GET', `${groupsPath()}/${engineering}/members`, { token: w.acme.token });
    assert.deepEqual(
      members.body.members.map((m: { user_id: string }) => m.user_id),
      [user.id],
    );
    const events = await w.gh.auditEvents(w.acme.token, { action: 'iam.group.memberAdded', target: user.id });
    assert.equal(events.length, 2);
    assert.ok(events.every((e) => e.details.source === 'connection' && e.details.connection === 'corp'));
    const sam = await tokensOf(w, await federatedSignIn(w, { params: { connection: 'corp' }, account: 'sam' }));
    assert.deepEqual(sam.access.roles, ['USER']);
    assert.deepEqual(sam.access.groups, ['Staff']);
  });

  it('on_each_login: the user leaves a mapped group when the claim stops matching, and stays in one an administrator added', async () => {
    const user = await userByEmail(w, 'eve@corp.test');
    assert.ok(user);
    accounts.eve = { ...accounts.eve, groups: ['staff'] };
    const second = await tokensOf(w, await federatedSignIn(w, { params: { connection: 'corp' }, account: 'eve' }));
    assert.deepEqual(second.access.roles, ['USER'], 'the group’s role is gone with the group');
    assert.deepEqual(second.access.groups, ['Staff']);
    const removed = await w.gh.auditEvents(w.acme.token, { action: 'iam.group.memberRemoved', target: user.id });
    assert.equal(removed.length, 1);
    assert.equal(removed[0]?.details.group, 'Engineering');
    // Joined by hand: the mapping never removes it.
    const added = await w.gh.request('POST', `${groupsPath()}/${engineering}/members`, { token: w.acme.token, body: { users: [user.id] } });
    assert.equal(added.status, 204);
    const third = await tokensOf(w, await federatedSignIn(w, { params: { connection: 'corp' }, account: 'eve' }));
    assert.deepEqual(third.access.groups, ['Engineering', 'Staff']);
  });

  it('the connections API takes groups in a mapping: the tenant’s groups only, and only groups whose roles the caller could grant', async () => {
    const oidc = (name: string, mapping: unknown) => ({
      name,
      strategy: 'oidc',
      options: { issuer: 'https://idp.example.com', client_id: 'gatehouse', client_secret: 's' },
      mapping,
    });
    const created = await w.gh.request('POST', '/api/v1/connections', {
      token: w.acme.token,
      body: oidc('with-groups', [{ claim: 'groups', value: 'eng', groups: ['Engineering'] }]),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.mapping, [{ claim: 'groups', value: 'eng', roles: [], groups: ['Engineering'] }]);
    const unknown = await w.gh.request('POST', '/api/v1/connections', {
      token: w.acme.token,
      body: oidc('unknown-group', [{ claim: 'groups', value: 'eng', groups: ['Nope'] }]),
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'unknown_group');
    // Another tenant's group is unknown to acme's connection.
    await w.gh.created(`/api/v1/tenants/${w.globex.tenantId}/groups`, w.globex.token, { name: 'Globex only' });
    const foreign = await w.gh.request('POST', '/api/v1/connections', {
      token: w.acme.token,
      body: oidc('foreign-group', [{ claim: 'groups', value: 'eng', groups: ['Globex only'] }]),
    });
    assert.equal(foreign.body.error, 'unknown_group');
    const empty = await w.gh.request('POST', '/api/v1/connections', {
      token: w.acme.token,
      body: oidc('empty-rule', [{ claim: 'groups', value: 'eng' }]),
    });
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error, 'invalid_field');
  });
});
