import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as OTPAuth from 'otpauth';
import { confirmFactor, enrolTotp } from '../../../src/authn/mfa/index.js';
import { insertConnection } from '../../helpers/connections.js';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { Browser, formOf } from '../../helpers/oidc.js';
import { federatedSignIn, formWith, startWorld, stopWorld, UPSTREAM_SECRET, userByEmail, type World } from '../federation/setup.js';

/**
 * Issue 14: "The account page lists them, and the user can link or unlink". Linking from
 * /account/identities through a real upstream OpenID provider (the same strategies,
 * /login/callback and continue step as a sign-in), the connections offered (decision 284),
 * the refusals (another user's identity, another session, a forged form, another tenant's
 * connection, a session without its second factor), and unlinking taking the mapped roles
 * with it (decision 285), from the account page and from the admin API.
 */
describe('account page: link an identity from /account/identities', () => {
  let w: World;
  const accounts = {
    'jane-corp': { email: 'jane.elsewhere@corp.test', email_verified: true, groups: ['engineering'] },
    'jane-sys': { email: 'jane@sys.test', email_verified: true },
    'bob-corp': { email: 'bob@corp.test', email_verified: true },
    'max-corp': { email: 'max.elsewhere@corp.test', email_verified: true, groups: ['engineering'] },
    'kim-corp': { email: 'kim.elsewhere@corp.test', email_verified: true },
    'ann-corp': { email: 'ann.elsewhere@corp.test', email_verified: true, groups: ['engineering'] },
  };
  const ids: Record<string, string> = {};
  /** Ann's browser, signed in with her password before she had a second factor. */
  let annEarly: Browser;

  before(async () => {
    w = await startWorld(accounts, { claims: { groups: ['groups'] } });
    await w.gh.created('/api/v1/roles', w.acme.token, { name: 'engineer', permissions: [] });
    const options = { ...w.oidcOptions, scope: 'openid profile email groups' };
    const oidc = { strategy: 'oidc' as const, options, secrets: { client_secret: UPSTREAM_SECRET } };
    await insertConnection(w.gh, {
      ...oidc,
      name: 'corp',
      displayName: 'Corp SSO',
      tenantId: w.acme.tenantId,
      enabledClients: [w.app.client_id],
      mapping: [{ claim: 'groups', value: 'engineering', roles: ['engineer'] }],
    });
    // A system connection offered to an application of Acme.
    await insertConnection(w.gh, { ...oidc, name: 'sys', displayName: 'System SSO', enabledClients: [w.app.client_id] });
    // Never offered: a system connection no application of Acme uses, an Acme connection switched off, another tenant's.
    await insertConnection(w.gh, { ...oidc, name: 'unlisted', displayName: 'Unlisted' });
    await insertConnection(w.gh, { ...oidc, name: 'acme-off', displayName: 'Acme Off', tenantId: w.acme.tenantId });
    const globexApp = await w.gh.created('/api/v1/applications', w.globex.token, {
      name: 'Globex Portal',
      type: 'web',
      redirect_uris: ['http://localhost:4000/globex'],
    });
    await insertConnection(w.gh, {
      ...oidc,
      name: 'globex-sso',
      displayName: 'Globex SSO',
      tenantId: w.globex.tenantId,
      enabledClients: [globexApp.client_id, w.app.client_id],
    });
    for (const name of ['jane', 'max', 'ann', 'kim', 'leo']) {
      ids[name] = await w.gh.createUser(w.acme.token, { email: `${name}@acme.test`, password: PASSWORD });
    }
    annEarly = await accountBrowser('ann@acme.test');
  });
  after(() => stopWorld(w));

  /** A browser signed in to the account page as `email`. */
  async function accountBrowser(email: string) {
    const browser = new Browser();
    const signIn = await browser.fetch(`${w.gh.issuer}/account/sign-in`);
    const { action, fields } = formOf(await signIn.text());
    const done = await browser.submit(`${w.gh.issuer}/account/sign-in`, action, { ...fields, username: email, password: PASSWORD });
    assert.equal(done.response.status, 200, `signed in (${done.url})`);
    return browser;
  }

  const identitiesPage = async (browser: Browser) => {
    const response = await browser.fetch(`${w.gh.issuer}/account/identities`);
    assert.equal(response.status, 200);
    return response.text();
  };

  /** The Link forms of the page, by connection name. */
  const linkForms = (page: string) =>
    [...page.matchAll(/<form method="post" action="\/account\/identities\/link">[\s\S]*?<\/form>/g)].map((m) => formOf(m[0]));
  const linkOffers = (page: string) => linkForms(page).map((f) => f.fields.connection);
  const linkForm = (page: string, connection: string) => {
    const form = linkForms(page).find((f) => f.fields.connection === connection);
    assert.ok(form, `a Link button for ${connection}`);
    return form;
  };

  /** Presses the Link button of `connection`: where it stops (the provider's URL, or a Gatehouse page). */
  async function pressLink(browser: Browser, connection: string) {
    const form = linkForm(await identitiesPage(browser), connection);
    const atProvider = (location: string) => location.startsWith(w.upstream.issuer);
    return browser.submit(`${w.gh.issuer}/account/identities`, form.action, form.fields, atProvider);
  }

  /** Link → the provider, where `account` signs in → /login/callback → wherever that leads. */
  async function link(browser: Browser, connection: string, account: string, between?: () => Promise<void>) {
    const hop = await pressLink(browser, connection);
    assert.ok(hop.url.startsWith(w.upstream.issuer), `sent to the provider, not ${hop.url} (${hop.response.status})`);
    const { params } = await w.upstream.signIn(hop.url, { account });
    await between?.();
    const landed = await browser.follow(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`);
    return { url: landed.url, status: landed.response.status, page: await landed.response.text() };
  }

  const identitiesOf = (userId: string) =>
    w.gh.ctx.db.selectFrom('user_identities').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();

  async function rolesOf(userId: string) {
    const member = (await w.gh.members(w.acme.token, w.acme.tenantId)).find((m) => m.user_id === userId);
    return (member?.roles.map((r) => r.name) ?? []).sort();
  }

  it('offers the home tenant’s and the system connections its applications use, never another tenant’s or one switched off', async () => {
    const page = await identitiesPage(await accountBrowser('jane@acme.test'));
    assert.deepEqual(linkOffers(page), ['corp', 'sys']);
    assert.match(page, /Link Corp SSO/);
    assert.ok(!page.includes('Globex SSO') && !page.includes('Unlisted') && !page.includes('Acme Off'));
  });

  it('links the provider’s account to the signed-in user (not by its email), maps its groups to roles, audits via account', async () => {
    const browser = await accountBrowser('jane@acme.test');
    const done = await link(browser, 'corp', 'jane-corp');
    assert.equal(done.status, 200, done.page.slice(0, 600));
    assert.match(done.url, /\/account\/identities\?notice=identity_linked$/);
    assert.match(done.page, /The account was linked/);
    const [identity, ...more] = await identitiesOf(ids.jane as string);
    assert.equal(more.length, 0);
    assert.equal(identity?.subject, 'jane-corp');
    assert.equal(await userByEmail(w, 'jane.elsewhere@corp.test'), undefined, 'nobody provisioned');
    assert.deepEqual(await rolesOf(ids.jane as string), ['USER', 'engineer'], 'the groups claim mapped over OIDC');
    const events = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.identityLinked', target: ids.jane as string });
    assert.ok(
      events.some((e) => e.details.connection === 'corp' && e.details.via === 'account' && e.outcome === 'success'),
      JSON.stringify(events),
    );
    // Listed now, and no longer offered.
    const page = await identitiesPage(browser);
    assert.match(page, /<strong>Corp SSO<\/strong>/);
    assert.deepEqual(linkOffers(page), ['sys']);
    // The identity now signs Jane in to the application.
    const run = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'jane-corp' });
    assert.ok(run.url.startsWith('http://localhost:4000/callback'), `${run.url}: ${run.page.slice(0, 300)}`);
  });

  it('links a system connection, its identity at the system connection', async () => {
    const browser = await accountBrowser('jane@acme.test');
    const done = await link(browser, 'sys', 'jane-sys');
    assert.match(done.url, /notice=identity_linked$/);
    assert.deepEqual(
      (await identitiesOf(ids.jane as string)).map((i) => i.subject),
      ['jane-corp', 'jane-sys'],
    );
  });

  it('refuses an identity that is another user’s: 409 identity_taken, nothing linked, audited as a failure', async () => {
    const bob = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'bob-corp' });
    assert.ok(bob.url.startsWith('http://localhost:4000/callback'), 'bob provisioned through corp');
    const browser = await accountBrowser('max@acme.test');
    const done = await link(browser, 'corp', 'bob-corp');
    assert.equal(done.status, 409, done.page.slice(0, 600));
    assert.match(done.page, /identity_taken/);
    assert.match(done.page, /linked to another user/);
    assert.match(done.page, /href="\/account\/identities"/);
    assert.deepEqual(await identitiesOf(ids.max as string), []);
    const owner = await userByEmail(w, 'bob@corp.test');
    assert.equal((await identitiesOf(owner?.id as string)).length, 1, 'still Bob’s');
    const events = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.identityLinked', target: ids.max as string });
    assert.ok(events.some((e) => e.outcome === 'failure' && e.details.reason === 'identity_taken'));
  });

  it('links nothing when the session that started it is gone by the time the provider answers (403), or when the answer is replayed', async () => {
    const browser = await accountBrowser('max@acme.test');
    const signOut = async () => {
      const form = formWith(await identitiesPage(browser), '/account/sign-out');
      await browser.submit(`${w.gh.issuer}/account/identities`, form.action, form.fields);
    };
    const done = await link(browser, 'corp', 'max-corp', signOut);
    assert.equal(done.status, 403, done.page.slice(0, 600));
    assert.match(done.page, /link_session_changed/);
    assert.deepEqual(await identitiesOf(ids.max as string), []);
    assert.deepEqual(await rolesOf(ids.max as string), ['USER'], 'no mapping either');
    // Signed in again as Max, the same answer does not link either: the flow was spent.
    const again = await accountBrowser('max@acme.test');
    const hop = await pressLink(again, 'corp');
    const { params } = await w.upstream.signIn(hop.url, { account: 'max-corp' });
    const first = await again.follow(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`);
    assert.match(first.url, /notice=identity_linked$/);
    const replay = await again.fetch(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`);
    assert.equal(replay.status, 400);
    assert.equal((await identitiesOf(ids.max as string)).length, 1);
  });

  it('another browser cannot finish a link (the flow’s browser binding)', async () => {
    const browser = await accountBrowser('ann@acme.test');
    const hop = await pressLink(browser, 'corp');
    const { params } = await w.upstream.signIn(hop.url, { account: 'ann-corp' });
    const stranger = await accountBrowser('ann@acme.test');
    const landed = await stranger.follow(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`);
    assert.equal(landed.response.status, 403);
    assert.deepEqual(await identitiesOf(ids.ann as string), []);
  });

  it('refuses a forged form (no CSRF token) and another tenant’s connection posted by name', async () => {
    const browser = await accountBrowser('ann@acme.test');
    const forged = await browser.submit(`${w.gh.issuer}/account/identities`, '/account/identities/link', { connection: 'corp' });
    assert.equal(forged.response.status, 403);
    const form = linkForm(await identitiesPage(browser), 'corp');
    for (const name of ['globex-sso', 'unlisted', 'acme-off']) {
      const other = await browser.submit(`${w.gh.issuer}/account/identities`, form.action, { ...form.fields, connection: name });
      assert.equal(other.response.status, 400, name);
      assert.match(await other.response.text(), /cannot be linked here/);
    }
    assert.deepEqual(await identitiesOf(ids.ann as string), []);
  });

  it('asks a session without its second factor to prove it before starting a link', async () => {
    const actor = { type: 'user' as const, id: ids.ann as string, ip: null, userAgent: null };
    const enrolment = await enrolTotp(w.gh.ctx, actor, ids.ann as string);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), digits: 6, period: 30 });
    await confirmFactor(w.gh.ctx, actor, ids.ann as string, enrolment.factorId, { otp: totp.generate() });
    const flows = await w.gh.rowCount('flows');
    const form = linkForm(await identitiesPage(annEarly), 'sys');
    const pressed = await annEarly.fetch(`${w.gh.issuer}${form.action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form.fields).toString(),
    });
    assert.equal(pressed.status, 303);
    assert.equal(pressed.headers.get('location'), '/account/sign-in/mfa', 'to the second factor');
    assert.equal(await w.gh.rowCount('flows'), flows, 'no federation flow started');
  });

  it('links nothing when the account got a second factor meanwhile and the session has not proved it (403)', async () => {
    const browser = await accountBrowser('kim@acme.test');
    const enrol = async () => {
      const actor = { type: 'user' as const, id: ids.kim as string, ip: null, userAgent: null };
      const enrolment = await enrolTotp(w.gh.ctx, actor, ids.kim as string);
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), digits: 6, period: 30 });
      await confirmFactor(w.gh.ctx, actor, ids.kim as string, enrolment.factorId, { otp: totp.generate() });
    };
    const done = await link(browser, 'corp', 'kim-corp', enrol);
    assert.equal(done.status, 403, done.page.slice(0, 600));
    assert.match(done.page, /link_session_changed/);
    assert.deepEqual(await identitiesOf(ids.kim as string), []);
  });

  it('cancelled at the provider: a 400 page that leads back to the account page, nothing linked', async () => {
    const browser = await accountBrowser('leo@acme.test');
    const hop = await pressLink(browser, 'corp');
    const { params } = await w.upstream.signIn(hop.url, { cancel: true });
    const landed = await browser.follow(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`);
    const page = await landed.response.text();
    assert.equal(landed.response.status, 400, page.slice(0, 400));
    assert.match(page, /was cancelled/);
    assert.match(page, /href="\/account\/identities"/);
    assert.match(page, /Back to your linked accounts/);
    assert.deepEqual(await identitiesOf(ids.leo as string), []);
  });

  it('unlinking (account page and admin API) removes the roles the connection mapped; a role held by hand stays', async () => {
    // Jane: engineer came from corp's mapping.
    const browser = await accountBrowser('jane@acme.test');
    const form = formWith(await identitiesPage(browser), 'value="jane-corp"');
    const unlinked = await browser.submit(`${w.gh.issuer}/account/identities`, form.action, form.fields);
    assert.match(unlinked.url, /notice=identity_unlinked$/);
    assert.deepEqual(await rolesOf(ids.jane as string), ['USER']);
    const left = await w.gh.ctx.db
      .selectFrom('membership_mapped_roles')
      .selectAll()
      .where('user_id', '=', ids.jane as string)
      .execute();
    assert.deepEqual(left, []);
    const events = await w.gh.auditEvents(w.acme.token, { action: 'iam.membership.modified', target: ids.jane as string });
    assert.ok(events.some((e) => e.details.reason === 'identity_unlinked' && (e.details.roles_removed as string[]).includes('engineer')));

    // Max: engineer mapped when he linked max-corp from the account page; an administrator unlinks it.
    assert.deepEqual(await rolesOf(ids.max as string), ['USER', 'engineer']);
    const byAdmin = await w.gh.request('DELETE', `/api/v1/users/${ids.max}/identities/corp/max-corp`, { token: w.acme.token });
    assert.equal(byAdmin.status, 204, JSON.stringify(byAdmin.body));
    assert.deepEqual(await rolesOf(ids.max as string), ['USER']);

    // Bob (provisioned through corp): engineer assigned by hand, then a sign-in whose groups map to it marks nothing.
    const bob = await userByEmail(w, 'bob@corp.test');
    const roles = (await w.gh.request('GET', '/api/v1/roles', { token: w.acme.token })).body.roles as { id: string; name: string }[];
    const engineer = roles.find((r) => r.name === 'engineer')?.id as string;
    const current = (await w.gh.members(w.acme.token, w.acme.tenantId)).find((m) => m.user_id === bob?.id)?.roles.map((r) => r.id) ?? [];
    const patched = await w.gh.request('PATCH', `/api/v1/tenants/${w.acme.tenantId}/members/${bob?.id}`, {
      token: w.acme.token,
      body: { roles: [...current, engineer] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    Object.assign(accounts['bob-corp'], { groups: ['engineering'] });
    await federatedSignIn(w, { params: { connection: 'corp' }, account: 'bob-corp' });
    // Another way to sign in, so that his only identity may go (decision 240): a second identity, at sys.
    await w.gh.ctx.db
      .insertInto('user_identities')
      .values({
        connection_id: (await w.gh.ctx.db.selectFrom('connections').select('id').where('name', '=', 'sys').executeTakeFirstOrThrow()).id,
        subject: 'bob-sys',
        user_id: bob?.id as string,
        provider: 'oidc',
        profile_data: JSON.stringify({}),
      })
      .execute();
    const removed = await w.gh.request('DELETE', `/api/v1/users/${bob?.id}/identities/corp/bob-corp`, { token: w.acme.token });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.deepEqual(await rolesOf(bob?.id as string), ['USER', 'engineer'], 'held before the mapping granted it: stays');
  });
});
