/**
 * Issue 14 part 3: a user's identities at other providers. Administrators list and unlink
 * them under the rule of decision 180 (another tenant's user is 404); the user sees and
 * unlinks their own in the account area and its JSON twin; the last way to sign in is never
 * unlinked. The identity rows are inserted directly: the sign-in that makes them is tested
 * with the federation flow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addIdentity, identityOf } from '../../../src/directory/users/identities.js';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import { expectError } from '../../helpers/two-tenants.js';

describe('identities API and the account area’s linked accounts', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let admin: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;
  let acmeSso: { id: string; name: string };
  let google: { id: string; name: string };
  let users = 0;

  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    acmeSso = await gh.created('/api/v1/connections', acme.token, {
      name: 'acme-sso',
      display_name: 'Acme Single Sign-On',
      strategy: 'oidc',
      options: { issuer: 'https://login.acme.test', client_id: 'gatehouse', client_secret: 'acme-secret' },
    });
    google = await gh.created('/api/v1/connections', admin, {
      name: 'google',
      display_name: 'Google',
      strategy: 'google-oauth2',
      options: { client_id: 'g', client_secret: 'google-secret' },
    });
  });
  after(() => gh.stop());

  /** A user of acme with an identity at each of the connections, as a federated sign-in would have linked them. */
  async function linkedUser(connections: { id: string; name: string }[], options: { password?: boolean } = {}) {
    const n = ++users;
    const email = `person${n}@acme.test`;
    const id = await gh.createUser(acme.token, { email, password: PASSWORD });
    for (const [index, connection] of connections.entries()) {
      await addIdentity(gh.ctx.db, {
        connectionId: connection.id,
        subject: `subject-${n}-${index}|with/slash`,
        userId: id,
        provider: connection.name === 'google' ? 'google-oauth2' : 'oidc',
        profileData: { email, given_name: 'Pat' },
        at: new Date(Date.now() + index * 1000),
      });
    }
    if (options.password === false) await gh.ctx.db.updateTable('users').set({ password_hash: null }).where('id', '=', id).execute();
    return { id, email, subject: (index: number) => `subject-${n}-${index}|with/slash` };
  }
  const identityPath = (userId: string, connection: string, subject: string) =>
    `/api/v1/users/${userId}/identities/${encodeURIComponent(connection)}/${encodeURIComponent(subject)}`;

  it('an administrator lists a user’s identities in Auth0’s shape and unlinks one, audited', async () => {
    const user = await linkedUser([acmeSso, google]);
    const listed = await gh.request('GET', `/api/v1/users/${user.id}/identities`, { token: acme.token });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(
      listed.body.identities.map((i: Record<string, unknown>) => [i.connection, i.display_name, i.provider, i.user_id, i.profile_data]),
      [
        ['acme-sso', 'Acme Single Sign-On', 'oidc', user.subject(0), { email: user.email, given_name: 'Pat' }],
        ['google', 'Google', 'google-oauth2', user.subject(1), { email: user.email, given_name: 'Pat' }],
      ],
    );
    assert.ok(listed.body.identities.every((i: { created_at: string; last_login_at: string }) => i.created_at && i.last_login_at));

    const removed = await gh.request('DELETE', identityPath(user.id, 'ACME-SSO', user.subject(0)), { token: acme.token });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.equal(await identityOf(gh.ctx.db, acmeSso.id, user.subject(0)), undefined);
    assert.equal((await gh.request('DELETE', identityPath(user.id, 'acme-sso', user.subject(0)), { token: acme.token })).status, 404);
    const [event] = await gh.auditEvents(acme.token, { action: 'iam.user.identityUnlinked', target: user.id });
    assert.deepEqual(event?.details, { connection: 'acme-sso', connection_id: acmeSso.id, provider: 'oidc', user_id: user.subject(0) });
    assert.equal(event?.actor_id, acme.adminId);
  });

  it('globex’s administrator cannot list or unlink the identities of acme’s user (404)', async () => {
    const user = await linkedUser([acmeSso, google]);
    await expectError(gh.request('GET', `/api/v1/users/${user.id}/identities`, { token: globex.token }), 404, 'not_found');
    await expectError(gh.request('DELETE', identityPath(user.id, 'google', user.subject(1)), { token: globex.token }), 404, 'not_found');
    assert.ok(await identityOf(gh.ctx.db, google.id, user.subject(1)), 'the identity is still linked');
  });

  it('globex’s administrator sees a shared member’s identity at acme’s connection without what acme’s provider said', async () => {
    const user = await linkedUser([acmeSso, google]);
    const now = new Date();
    await gh.ctx.db
      .insertInto('memberships')
      .values({ tenant_id: globex.tenantId, user_id: user.id, created_at: now, updated_at: now })
      .execute();
    const seen = await gh.request('GET', `/api/v1/users/${user.id}/identities`, { token: globex.token });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    const byName = Object.fromEntries(seen.body.identities.map((i: any) => [i.connection, i.profile_data]));
    assert.deepEqual(byName['acme-sso'], {}, 'acme’s provider’s claims are acme’s');
    assert.equal(byName.google.given_name, 'Pat', 'a system connection’s claims are shown');
    const own = await gh.request('GET', `/api/v1/users/${user.id}/identities`, { token: acme.token });
    assert.equal(own.body.identities.find((i: any) => i.connection === 'acme-sso').profile_data.given_name, 'Pat');
  });

  it('an administrator who does not outrank the account cannot unlink its identities', async () => {
    const user = await linkedUser([acmeSso, google]);
    const role = await gh.created('/api/v1/roles', acme.token, {
      name: 'helpdesk',
      permissions: ['tenant.account.read', 'tenant.account.update', 'tenant.profile.read'],
    });
    const email = 'helpdesk@acme.test';
    await gh.createUser(acme.token, { email, password: PASSWORD, roles: [role.id] });
    const helpdesk = await gh.tokenFor(await gh.signIn(email, PASSWORD), acme.tenantId);
    // The helpdesk outranks a plain member, not the tenant's administrator.
    await addIdentity(gh.ctx.db, {
      connectionId: google.id,
      subject: 'admin-subject',
      userId: acme.adminId,
      provider: 'google-oauth2',
      profileData: {},
      at: new Date(),
    });
    await expectError(gh.request('DELETE', identityPath(acme.adminId, 'google', 'admin-subject'), { token: helpdesk }), 403, 'forbidden');
    const helped = await gh.request('DELETE', identityPath(user.id, 'google', user.subject(1)), { token: helpdesk });
    assert.equal(helped.status, 204, JSON.stringify(helped.body));
    const reader = await gh.created('/api/v1/roles', acme.token, { name: 'reader', permissions: ['tenant.account.read'] });
    await gh.createUser(acme.token, { email: 'reader@acme.test', password: PASSWORD, roles: [reader.id] });
    const readOnly = await gh.tokenFor(await gh.signIn('reader@acme.test', PASSWORD), acme.tenantId);
    assert.equal((await gh.request('GET', `/api/v1/users/${user.id}/identities`, { token: readOnly })).status, 200);
    await expectError(gh.request('DELETE', identityPath(user.id, 'acme-sso', user.subject(0)), { token: readOnly }), 403, 'forbidden');
  });

  it('refuses to unlink the last way to sign in (no password, one identity): 400 last_sign_in_method', async () => {
    const user = await linkedUser([acmeSso, google], { password: false });
    assert.equal((await gh.request('DELETE', identityPath(user.id, 'google', user.subject(1)), { token: admin })).status, 204);
    await expectError(
      gh.request('DELETE', identityPath(user.id, 'acme-sso', user.subject(0)), { token: admin }),
      400,
      'last_sign_in_method',
    );
    assert.ok(await identityOf(gh.ctx.db, acmeSso.id, user.subject(0)));
  });

  it('the user lists and unlinks their own identities through the JSON twin, never another user’s', async () => {
    const me = await linkedUser([acmeSso, google]);
    const other = await linkedUser([google]);
    const session = await gh.signIn(me.email, PASSWORD);
    const listed = await gh.request('GET', '/api/v1/users/me/identities', { token: session });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.identities.map((i: { connection: string }) => i.connection),
      ['acme-sso', 'google'],
    );
    const mine = `/api/v1/users/me/identities/google/${encodeURIComponent(me.subject(1))}`;
    assert.equal((await gh.request('DELETE', mine, { token: session })).status, 204);
    const theirs = `/api/v1/users/me/identities/google/${encodeURIComponent(other.subject(0))}`;
    await expectError(gh.request('DELETE', theirs, { token: session }), 404, 'not_found');
    assert.ok(await identityOf(gh.ctx.db, google.id, other.subject(0)));
    await expectError(gh.request('GET', '/api/v1/users/me/identities', { token: acme.token }), 401, 'invalid_token');

    await gh.ctx.db.updateTable('users').set({ password_hash: null }).where('id', '=', me.id).execute();
    const last = `/api/v1/users/me/identities/acme-sso/${encodeURIComponent(me.subject(0))}`;
    await expectError(gh.request('DELETE', last, { token: session }), 400, 'last_sign_in_method');
  });

  it('the account area lists linked accounts by display name and provider, and unlinks one with a CSRF-bound form', async () => {
    const user = await linkedUser([acmeSso, google]);
    const browser = new Browser();
    const signIn = await browser.fetch(`${gh.issuer}/account/sign-in`);
    const { action, fields } = formOf(await signIn.text());
    await browser.submit(`${gh.issuer}/account/sign-in`, action, { ...fields, username: user.email, password: PASSWORD });
    const page = await (await browser.fetch(`${gh.issuer}/account/identities`)).text();
    assert.match(page, /<h1>Linked accounts<\/h1>/);
    assert.match(page, /Acme Single Sign-On/);
    assert.match(page, /Through google-oauth2/);
    const forms = [...page.matchAll(/<form[\s\S]*?<\/form>/g)].map((m) => m[0]).filter((f) => f.includes('/account/identities/unlink'));
    assert.equal(forms.length, 2);
    const unlink = formOf(forms.find((f) => f.includes('value="google"'))!);
    assert.equal(unlink.fields.user_id, user.subject(1));

    const forged = await browser.submit(`${gh.issuer}/account/identities`, unlink.action, { ...unlink.fields, csrf: 'forged' });
    assert.equal(forged.response.status, 403);
    assert.ok(await identityOf(gh.ctx.db, google.id, user.subject(1)), 'a forged form unlinks nothing');

    const done = await browser.submit(`${gh.issuer}/account/identities`, unlink.action, unlink.fields);
    assert.equal(done.url, `${gh.issuer}/account/identities?notice=identity_unlinked`);
    const text = await done.response.text();
    assert.match(text, /The account was unlinked/);
    assert.doesNotMatch(text, /value="google"/);
    assert.equal(await identityOf(gh.ctx.db, google.id, user.subject(1)), undefined);

    await gh.ctx.db.updateTable('users').set({ password_hash: null }).where('id', '=', user.id).execute();
    const again = await (await browser.fetch(`${gh.issuer}/account/identities`)).text();
    const last = formOf(
      [...again.matchAll(/<form[\s\S]*?<\/form>/g)].map((m) => m[0]).find((f) => f.includes('/account/identities/unlink'))!,
    );
    const refused = await browser.submit(`${gh.issuer}/account/identities`, last.action, last.fields);
    assert.equal(refused.response.status, 400);
    assert.match(await refused.response.text(), /This is your only way to sign in/);
  });
});
