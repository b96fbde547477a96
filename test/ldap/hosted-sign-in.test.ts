import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  atCallback,
  federatedSignIn,
  formWith,
  startWorld,
  stopWorld,
  tokensOf,
  userByEmail,
  type World,
} from '../flows/federation/setup.js';
import { insertConnection } from '../helpers/connections.js';
import { PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, SUFFIX, startSlapd } from '../helpers/slapd.js';

/**
 * The hosted sign-in through an `ad` connection (issue 14) against a real slapd: the
 * email's domain leads to the directory's own form (home-realm discovery), a wrong password
 * shows it again (401), the right one ends at the application with the role its LDAP group
 * maps to (an array claim: `groups`).
 */
describe('federation: the hosted sign-in through an ad (LDAP) connection', () => {
  let w: World;
  let slapd: Slapd;

  before(async () => {
    [w, slapd] = await Promise.all([startWorld({}), startSlapd()]);
    await w.gh.created('/api/v1/roles', w.acme.token, { name: 'engineer', permissions: [] });
    await insertConnection(w.gh, {
      name: 'corp-ldap',
      displayName: 'Corporate directory',
      strategy: 'ad',
      tenantId: w.acme.tenantId,
      options: { url: slapd.url, base_dn: SUFFIX, bind_dn: SERVICE_DN },
      secrets: { bind_password: SERVICE_PASSWORD },
      enabledClients: [w.app.client_id],
      domains: ['example.org'],
      mapping: [{ claim: 'groups', value: 'engineering', roles: ['engineer'] }],
    });
  });
  after(async () => {
    await slapd.stop();
    await stopWorld(w);
  });

  it("the email's domain → the directory form; a wrong password again (401); the right one → the application with the mapped role", async () => {
    const run = await federatedSignIn(w, { email: 'ann@example.org' });
    assert.equal(run.status, 200, run.page.slice(0, 400));
    assert.match(run.page, /Sign in with Corporate directory/);
    const form = formWith(run.page, '/connection/corp-ldap/login"');
    const wrong = await run.browser.submit(run.url, form.action, { ...form.fields, username: 'ann', password: 'wrong' }, atCallback);
    assert.equal(wrong.response.status, 401);
    const again = await wrong.response.text();
    assert.match(again, /Wrong username or password/);
    const retry = formWith(again, '/connection/corp-ldap/login"');
    const landed = await run.browser.submit(
      wrong.url,
      retry.action,
      { ...retry.fields, username: 'ann', password: PEOPLE.ann.password },
      atCallback,
    );
    const { access, id } = await tokensOf(w, { ...run, url: landed.url, status: landed.response.status, page: '' });
    const user = await userByEmail(w, 'ann@example.org');
    assert.equal(access.sub, user?.id);
    assert.equal(user?.email_verified, false, 'a directory does not verify email addresses');
    assert.deepEqual([...(access.roles as string[])].sort(), ['USER', 'engineer']);
    assert.deepEqual(id.amr, ['fed']);
  });

  it('an empty password never reaches the directory: the form again, 401', async () => {
    const run = await federatedSignIn(w, { params: { connection: 'corp-ldap' } });
    const form = formWith(run.page, '/connection/corp-ldap/login"');
    const before = slapd.binds().length;
    const empty = await run.browser.submit(run.url, form.action, { ...form.fields, username: 'bob', password: '' });
    assert.equal(empty.response.status, 401);
    assert.equal(slapd.binds().filter((b) => b.includes('uid=bob')).length, 0);
    assert.ok(slapd.binds().length >= before);
  });
});
