import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { insertConnection } from '../../helpers/connections.js';
import { Browser } from '../../helpers/oidc.js';
import { NAMEID_PERSISTENT, postedForm, startTestIdpServer, type TestIdpServer } from '../../helpers/saml-idp.js';
import { atCallback, authorization, startWorld, stopWorld, tokensOf, userByEmail, type World } from './setup.js';

/**
 * A sign-in through a `samlp` connection end to end (issue 14): the application's
 * /authorize?connection=NAME → the IdP (samlify, a real signed Response) → the Response
 * POSTed to the ACS (/login/callback?connection=NAME), cross-site, so without the flow's
 * cookie → 303 to /login/callback/continue, where the browser binding is checked → the
 * application, with the roles the mapping gives for a SAML attribute (multi-valued).
 */
describe('federation: sign-in through a samlp connection (the POSTed answer)', () => {
  let w: World;
  let idp: TestIdpServer;

  before(async () => {
    w = await startWorld({});
    idp = await startTestIdpServer();
    await w.gh.created('/api/v1/roles', w.acme.token, { name: 'finance', permissions: [] });
    await insertConnection(w.gh, {
      name: 'okta',
      displayName: 'Okta',
      strategy: 'samlp',
      tenantId: w.acme.tenantId,
      options: { metadataUrl: idp.metadataUrl, emails_verified: true },
      enabledClients: [w.app.client_id],
      mapping: [{ claim: 'groups', value: 'Finance', roles: ['finance'] }],
    });
  });
  after(async () => {
    await idp.close();
    await stopWorld(w);
  });

  /** /authorize → the IdP's auto-POSTing page: the ACS form, and the browser that started. */
  async function toIdp() {
    const browser = new Browser();
    const request = await authorization(w, { connection: 'okta' });
    const atIdp = await browser.follow(request.url, (l) => l.startsWith(`${idp.ssoUrl}`));
    assert.ok(atIdp.url.startsWith(idp.ssoUrl), `sent to the IdP, not ${atIdp.url}`);
    const page = await (await fetch(atIdp.url)).text();
    return { browser, request, form: postedForm(page) };
  }

  const post = (browser: Browser, form: { action: string; fields: Record<string, string> }) =>
    browser.fetch(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form.fields).toString(),
    });

  it('the Response at the ACS → continue (binding checked) → the application, with the mapped role', async () => {
    idp.answer = {
      nameId: 'okta-0001',
      nameIdFormat: NAMEID_PERSISTENT,
      attributes: { email: 'pat@okta.test', firstName: 'Pat', groups: ['Staff', 'Finance'] },
    };
    const { browser, request, form } = await toIdp();
    assert.equal(form.action, `${w.gh.issuer}/login/callback?connection=okta`);
    // The cross-site POST: as a browser sends it (SameSite=Lax: no cookie of ours).
    const posted = await post(new Browser(), form);
    assert.equal(posted.status, 303);
    const next = posted.headers.get('location') as string;
    assert.match(next, /^\/login\/callback\/continue\?flow=flw_/);
    const landed = await browser.follow(`${w.gh.issuer}${next}`, atCallback);
    const { access } = await tokensOf(w, { ...request, browser, url: landed.url, status: landed.response.status, page: '' });
    const user = await userByEmail(w, 'pat@okta.test');
    assert.equal(access.sub, user?.id);
    assert.equal(user?.email_verified, false, 'emails_verified, but the connection is not trusted with email (decision 291)');
    assert.deepEqual([...(access.roles as string[])].sort(), ['USER', 'finance']);
    const identity = await w.gh.ctx.db
      .selectFrom('user_identities')
      .selectAll()
      .where('user_id', '=', user?.id as string)
      .executeTakeFirstOrThrow();
    assert.equal(identity.subject, 'okta-0001');
    assert.equal(identity.provider, 'samlp');
  });

  it('the same Response POSTed again (a replay) is refused with a page, 400', async () => {
    idp.answer = { nameId: 'okta-0002', nameIdFormat: NAMEID_PERSISTENT, attributes: { email: 'sam@okta.test' } };
    const { browser, form } = await toIdp();
    assert.equal((await post(new Browser(), form)).status, 303);
    const replay = await post(browser, form);
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /federation_state_invalid/);
  });

  it('login CSRF: the continue step in a browser that did not start the flow is refused (403), nothing signed in', async () => {
    idp.answer = { nameId: 'okta-0003', nameIdFormat: NAMEID_PERSISTENT, attributes: { email: 'eve@okta.test' } };
    const { form } = await toIdp();
    const victim = new Browser();
    const posted = await post(victim, form);
    assert.equal(posted.status, 303);
    const refused = await victim.fetch(`${w.gh.issuer}${posted.headers.get('location')}`);
    assert.equal(refused.status, 403);
    assert.equal(await userByEmail(w, 'eve@okta.test'), undefined, 'no account made for the wrong browser');
  });

  it('the ACS reads a Response larger than a hosted form (many groups, encrypted) up to 1 MiB', async () => {
    const groups = Array.from({ length: 1500 }, (_, i) => `CN=group-with-a-long-name-${i},OU=Groups,DC=okta,DC=test`);
    idp.answer = { nameId: 'okta-big', nameIdFormat: NAMEID_PERSISTENT, attributes: { email: 'big@okta.test', groups } };
    const { browser, form } = await toIdp();
    assert.ok(new URLSearchParams(form.fields).toString().length > 64 * 1024, 'larger than a hosted form');
    const posted = await post(new Browser(), form);
    assert.equal(posted.status, 303, await posted.text());
    const huge = await post(browser, { action: form.action, fields: { ...form.fields, SAMLResponse: 'A'.repeat(1024 * 1024) } });
    assert.equal(huge.status, 413);
  });

  it('a Response the strategy refuses (unsigned) ends on a hosted page with a 4xx, audited', async () => {
    idp.answer = { nameId: 'okta-0004', nameIdFormat: NAMEID_PERSISTENT, attributes: { email: 'x@okta.test' }, sign: 'none' };
    const { form } = await toIdp();
    const posted = await post(new Browser(), form);
    assert.equal(posted.status, 400);
    assert.match(await posted.text(), /federation_failed/);
    const failed = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.loginFailed' });
    assert.ok(failed.some((e) => e.details.connection === 'okta' && String(e.details.reason).startsWith('invalid_response')));
  });
});
