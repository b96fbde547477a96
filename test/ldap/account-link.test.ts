import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formWith, startWorld, stopWorld, type World } from '../flows/federation/setup.js';
import { insertConnection } from '../helpers/connections.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { Browser, formOf } from '../helpers/oidc.js';
import { PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, SUFFIX, startSlapd } from '../helpers/slapd.js';

/**
 * Linking an `ad` (LDAP) connection from the account page (issue 14) against a real slapd:
 * the Link button shows the directory's own form (its CSRF token bound to the account
 * session), a wrong password shows it again (401) and links nothing, the right one links
 * the directory's person to the signed-in user with the role its LDAP group maps to.
 */
describe('account page: link an ad (LDAP) connection through the directory form', () => {
  let w: World;
  let slapd: Slapd;
  let jane: string;

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
      mapping: [{ claim: 'groups', value: 'engineering', roles: ['engineer'] }],
    });
    jane = await w.gh.createUser(w.acme.token, { email: 'jane@acme.test', password: PASSWORD });
  });
  after(async () => {
    await slapd.stop();
    await stopWorld(w);
  });

  it('Link → the directory form; a wrong password again (401); the right one links to the signed-in user with the mapped role', async () => {
    const browser = new Browser();
    const signIn = await browser.fetch(`${w.gh.issuer}/account/sign-in`);
    const { action, fields } = formOf(await signIn.text());
    await browser.submit(`${w.gh.issuer}/account/sign-in`, action, { ...fields, username: 'jane@acme.test', password: PASSWORD });
    const list = `${w.gh.issuer}/account/identities`;
    const page = await (await browser.fetch(list)).text();
    const button = formWith(page, 'value="corp-ldap"');
    const opened = await browser.submit(list, button.action, button.fields);
    assert.equal(opened.response.status, 200);
    const directory = await opened.response.text();
    assert.match(directory, /Sign in with Corporate directory/);
    const form = formWith(directory, '/account/identities/link/corp-ldap/login"');

    const wrong = await browser.submit(list, form.action, { ...form.fields, username: 'ann', password: 'wrong' });
    assert.equal(wrong.response.status, 401);
    assert.match(await wrong.response.text(), /Wrong username or password/);
    const forged = await browser.submit(list, form.action, { username: 'ann', password: PEOPLE.ann.password });
    assert.equal(forged.response.status, 403, 'no CSRF token: refused before the directory is asked');

    const right = await browser.submit(list, form.action, { ...form.fields, username: 'ann', password: PEOPLE.ann.password });
    assert.match(right.url, /\/account\/identities\?notice=identity_linked$/);
    const identities = await w.gh.ctx.db.selectFrom('user_identities').selectAll().where('user_id', '=', jane).execute();
    assert.equal(identities.length, 1);
    assert.equal((identities[0]?.profile_data as Record<string, unknown> | undefined)?.provider, 'ad');
    const member = (await w.gh.members(w.acme.token, w.acme.tenantId)).find((m) => m.user_id === jane);
    assert.deepEqual(member?.roles.map((r) => r.name).sort(), ['USER', 'engineer']);
    const events = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.identityLinked', target: jane });
    assert.ok(events.some((e) => e.details.connection === 'corp-ldap' && e.details.via === 'account'));
  });
});
