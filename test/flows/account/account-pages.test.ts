/**
 * The hosted account area (/account…) and its JSON twins: profile, email change (confirmed
 * by the new address, the old one told), password, sessions, applications, deletion, the
 * step-up for a password-only session, CSRF, and the user's language.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };
const CALLBACK = 'http://localhost:4000/callback';

/** The form posting to `action` (its hidden fields and action). */
function formTo(page: string, action: string) {
  for (const match of page.matchAll(/<form[\s\S]*?<\/form>/g)) {
    if (match[0].includes(`action="${action}"`)) return formOf(match[0]);
  }
  throw new Error(`No form to ${action} on the page:\n${page.slice(0, 3000)}`);
}
const linkIn = (text: string) => /(http\S+\/account\/email\/confirm\?token=\S+)/.exec(text)?.[1] as string;
const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)?.[1] as string;

describe('the hosted account area (/account)', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let peer: SmtpPeer;
  let acme: TenantAdmin;
  let users = 0;

  before(async () => {
    peer = await startSmtpPeer();
    gh = await startListeningGatehouse({ clock, config: { smtpUrl: peer.url } });
    acme = await gh.tenantWithAdmin('acme');
  });
  after(async () => {
    await gh.stop();
    await peer.stop();
  });

  /** A new user of acme, signed in at /account/sign-in in a browser of its own. */
  async function signedInUser(extra: Record<string, unknown> = {}) {
    const email = `user${++users}@acme.test`;
    const id = await gh.createUser(acme.token, { email, password: PASSWORD, ...extra });
    const browser = new Browser();
    const signIn = await browser.fetch(`${gh.issuer}/account/sign-in`);
    const { action, fields } = formOf(await signIn.text());
    const home = await browser.submit(`${gh.issuer}/account/sign-in`, action, { ...fields, username: email, password: PASSWORD });
    assert.equal(home.url, `${gh.issuer}/account`);
    return { id, email, browser };
  }
  const open = async (browser: Browser, path: string) => {
    const response = await browser.fetch(`${gh.issuer}${path}`);
    return { response, text: await response.text() };
  };
  const submit = async (browser: Browser, path: string, action: string, fields: Record<string, string>) => {
    const done = await browser.submit(`${gh.issuer}${path}`, action, fields);
    return { ...done, text: await done.response.text() };
  };

  it('sends a browser without a session to the sign-in, and back to the page it asked for', async () => {
    const { email } = await signedInUser();
    const browser = new Browser();
    const first = await browser.fetch(`${gh.issuer}/account/sessions`);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/account/sign-in');
    const signIn = await open(browser, '/account/sign-in');
    const { action, fields } = formOf(signIn.text);
    const landed = await submit(browser, '/account/sign-in', action, { ...fields, username: email, password: PASSWORD });
    assert.equal(landed.url, `${gh.issuer}/account/sessions`);
    assert.match(landed.text, /<h1>Your sessions<\/h1>/);
    for (const section of ['/account', '/account/email', '/account/password', '/account/security', '/account/applications']) {
      assert.match(landed.text, new RegExp(`href="${section}"`), `the navigation links ${section}`);
    }
    // Signing out ends the session; the pages send the browser to the sign-in again.
    const signOut = formTo(landed.text, '/account/sign-out');
    const out = await browser.fetch(`${gh.issuer}/account/sign-out`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(signOut.fields).toString(),
    });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get('location'), '/account/sign-in');
    assert.equal((await browser.fetch(`${gh.issuer}/account`)).status, 303);
  });

  it('changes the profile on the page (CSRF checked) and through PATCH /api/v1/users/me, and speaks German when the user does', async () => {
    const { browser } = await signedInUser();
    const home = await open(browser, '/account');
    assert.equal(home.response.headers.get('x-frame-options'), 'DENY');
    const form = formTo(home.text, '/account');
    const forged = await submit(browser, '/account', '/account', { given_name: 'Mallory' });
    assert.equal(forged.response.status, 403);
    const badPhone = await submit(browser, '/account', '/account', { ...form.fields, phone: 'call me' });
    assert.equal(badPhone.response.status, 400);
    assert.match(badPhone.text, /role="alert"/);
    const saved = await submit(browser, '/account', '/account', {
      ...form.fields,
      given_name: 'Jana',
      family_name: 'Novak',
      name: 'Jana N.',
      phone: '+49 30 1234567',
      locale: 'de',
    });
    assert.equal(saved.url, `${gh.issuer}/account?notice=saved`);
    assert.match(saved.text, /<html lang="de">/);
    assert.match(saved.text, /<h1>Ihr Profil<\/h1>/);
    assert.match(saved.text, /Ihr Profil wurde gespeichert/);
    assert.match(saved.text, /value="Jana"/);
    assert.match(saved.text, /<option value="de" lang="de" selected>/);
    const security = await open(browser, '/account/security');
    assert.match(security.text, /Anmeldung und Sicherheit/);

    const token = await gh.signIn(`user${users}@acme.test`, PASSWORD);
    const patched = await gh.request('PATCH', '/api/v1/users/me', { token, body: { given_name: 'Jane', locale: 'en' } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.given_name, 'Jane');
    assert.match((await open(browser, '/account')).text, /<h1>Your profile<\/h1>/);
  });

  it('changes the email only when the new address confirms the link (a POST), telling the old address before and after', async () => {
    const { id, email, browser } = await signedInUser();
    const page = await open(browser, '/account/email');
    const form = formTo(page.text, '/account/email');
    const wrong = await submit(browser, '/account/email', form.action, { ...form.fields, email: 'new1@elsewhere.test', password: 'nope' });
    assert.equal(wrong.response.status, 401);
    assert.match(wrong.text, /Your current password is not right/);
    // Decision 189: an address another account uses is answered as a free one; its owner gets a notice, no link.
    const taken = await submit(browser, '/account/email', form.action, { ...form.fields, email: acme.adminEmail, password: PASSWORD });
    assert.equal(taken.url, `${gh.issuer}/account/email?notice=email_sent`);
    await deliverEmails(gh.ctx);
    assert.match((await peer.next(email)).text, new RegExp(acme.adminEmail.replace(/[.]/g, '\\.')));
    const owner = await peer.next(acme.adminEmail);
    assert.match(owner.subject, /another .* account/);
    assert.doesNotMatch(owner.text, /token=/);
    const sent = await submit(browser, '/account/email', form.action, { ...form.fields, email: 'new1@elsewhere.test', password: PASSWORD });
    assert.equal(sent.url, `${gh.issuer}/account/email?notice=email_sent`);
    assert.match(sent.text, /We sent a link and a code to new1@elsewhere\.test/);
    await deliverEmails(gh.ctx);
    const notice = await peer.next(email);
    assert.match(notice.subject, /is being changed/);
    assert.match(notice.text, /new1@elsewhere\.test/);
    const mail = await peer.next('new1@elsewhere.test');
    const link = linkIn(mail.text);
    assert.ok(link, mail.text);

    // Not yet: opening the link shows a button and changes nothing.
    const shown = await fetch(link);
    const shownText = await shown.text();
    assert.equal(shown.status, 200);
    assert.match(shownText, /Use new1@elsewhere\.test for your account from now on\?/);
    const before = await gh.ctx.db.selectFrom('users').select('email').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(before.email, email);

    const confirm = formTo(shownText, '/account/email/confirm');
    const done = await fetch(`${gh.issuer}/account/email/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(confirm.fields).toString(),
    });
    assert.equal(done.status, 200);
    assert.match(await done.text(), /your account now uses new1@elsewhere\.test/);
    const after = await gh.ctx.db.selectFrom('users').select(['email', 'email_verified']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(after, { email: 'new1@elsewhere.test', email_verified: true });
    await deliverEmails(gh.ctx);
    assert.match((await peer.next(email)).subject, /was changed/);

    const reused = await fetch(`${gh.issuer}/account/email/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(confirm.fields).toString(),
    });
    assert.equal(reused.status, 400);
    assert.match(await reused.text(), /This link is not valid/);

    const token = new URL(link).searchParams.get('token') as string;
    assert.ok(!gh.logs.some((line) => line.includes(token)), 'the link token is never logged');
    const events = await gh.auditEvents(acme.token, { action: 'iam.user.emailChanged', target: id });
    assert.equal(events.length, 1);
    assert.deepEqual([events[0]?.details.old_email, events[0]?.details.new_email], [email, 'new1@elsewhere.test']);
  });

  it('confirms an email change with the code typed on the page', async () => {
    const { id, email, browser } = await signedInUser();
    const form = formTo((await open(browser, '/account/email')).text, '/account/email');
    const sent = await submit(browser, '/account/email', form.action, {
      ...form.fields,
      email: 'typed@elsewhere.test',
      password: PASSWORD,
    });
    await deliverEmails(gh.ctx);
    await peer.next(email);
    const code = codeIn((await peer.next('typed@elsewhere.test')).text);
    const codeForm = formTo(sent.text, '/account/email/code');
    const wrong = await submit(browser, '/account/email', codeForm.action, {
      ...codeForm.fields,
      code: code === '000000' ? '111111' : '000000',
    });
    assert.equal(wrong.response.status, 401);
    assert.match(wrong.text, /That code is not right/);
    const forged = await submit(browser, '/account/email', codeForm.action, { flow: codeForm.fields.flow as string, code });
    assert.equal(forged.response.status, 403);
    const done = await submit(browser, '/account/email', codeForm.action, { ...codeForm.fields, code });
    assert.equal(done.url, `${gh.issuer}/account/email?notice=email_changed`);
    assert.match(done.text, /Your email address is typed@elsewhere\.test/);
    const user = await gh.ctx.db.selectFrom('users').select('email').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(user.email, 'typed@elsewhere.test');
  });

  it('confirms an email change with the code through the API twin, and refuses a wrong, an expired or a taken one', async () => {
    const { email } = await signedInUser();
    const token = await gh.signIn(email, PASSWORD);
    const started = await gh.request('POST', '/api/v1/users/me/email', {
      token,
      body: { email: 'new2@elsewhere.test', password: PASSWORD },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    assert.equal(started.body.flow.kind, 'email_change');
    assert.equal(started.body.flow.email, 'new2@elsewhere.test');
    await deliverEmails(gh.ctx);
    await peer.next(email);
    const code = codeIn((await peer.next('new2@elsewhere.test')).text);
    const flow = started.body.flow.id as string;
    const wrong = await gh.request('POST', `/api/v1/flows/email_change/${flow}`, {
      token,
      body: { code: code === '000000' ? '111111' : '000000' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_code');
    assert.equal((await gh.request('GET', '/api/v1/users/me', { token })).body.email, email, 'not effective before');
    const right = await gh.request('POST', `/api/v1/flows/email_change/${flow}`, { token, body: { code } });
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.deepEqual(right.body, { email: 'new2@elsewhere.test', email_verified: true });
    const again = await gh.request('POST', `/api/v1/flows/email_change/${flow}`, { token, body: { code } });
    assert.equal(again.status, 409);

    // Taken at confirmation: another account took the address in the meantime.
    const second = await gh.request('POST', '/api/v1/users/me/email', {
      token,
      body: { email: 'race@elsewhere.test', password: PASSWORD },
    });
    assert.equal(second.status, 202);
    await deliverEmails(gh.ctx);
    await peer.next('new2@elsewhere.test');
    const mail = await peer.next('race@elsewhere.test');
    await gh.createUser(acme.token, { email: 'race@elsewhere.test', password: PASSWORD });
    const raced = await gh.request('POST', '/api/v1/flows/email_change/link', {
      body: { token: new URL(linkIn(mail.text)).searchParams.get('token') },
    });
    assert.equal(raced.status, 409);
    assert.equal(raced.body.error, 'email_taken');
    assert.equal((await gh.request('GET', '/api/v1/users/me', { token })).body.email, 'new2@elsewhere.test');

    // Expired: after 24 hours neither the link nor the code works.
    const third = await gh.request('POST', '/api/v1/users/me/email', { token, body: { email: 'late@elsewhere.test', password: PASSWORD } });
    await deliverEmails(gh.ctx);
    await peer.next('new2@elsewhere.test');
    const late = await peer.next('late@elsewhere.test');
    offsetMs = 25 * 3600_000;
    try {
      const session = await gh.signIn('new2@elsewhere.test', PASSWORD);
      const expired = await gh.request('POST', `/api/v1/flows/email_change/${third.body.flow.id}`, {
        token: session,
        body: { code: codeIn(late.text) },
      });
      assert.equal(expired.status, 410);
      assert.equal(expired.body.error, 'flow_expired');
      const expiredLink = await gh.request('POST', '/api/v1/flows/email_change/link', {
        body: { token: new URL(linkIn(late.text)).searchParams.get('token') },
      });
      assert.equal(expiredLink.status, 410);
      assert.equal(expiredLink.body.error, 'link_expired');
    } finally {
      offsetMs = 0;
    }
  });

  it('changes the password with the current one on the page, and ends the other sessions', async () => {
    const { email, browser } = await signedInUser();
    const other = await gh.signIn(email, PASSWORD);
    const page = await open(browser, '/account/password');
    const form = formTo(page.text, '/account/password');
    const wrong = await submit(browser, '/account/password', form.action, {
      ...form.fields,
      current_password: 'nope',
      new_password: 'another-long-password-1',
      confirm_password: 'another-long-password-1',
    });
    assert.equal(wrong.response.status, 401);
    assert.match(wrong.text, /Your current password is not right/);
    const mismatch = await submit(browser, '/account/password', form.action, {
      ...form.fields,
      current_password: PASSWORD,
      new_password: 'another-long-password-1',
      confirm_password: 'another-long-password-2',
    });
    assert.equal(mismatch.response.status, 400);
    const changed = await submit(browser, '/account/password', form.action, {
      ...form.fields,
      current_password: PASSWORD,
      new_password: 'another-long-password-1',
      confirm_password: 'another-long-password-1',
    });
    assert.equal(changed.url, `${gh.issuer}/account/password?notice=password_changed`);
    assert.match(changed.text, /Your password was changed/);
    assert.equal((await gh.request('GET', '/api/v1/users/me', { token: other })).status, 401);
    assert.equal((await open(browser, '/account')).response.status, 200, 'this session stays');
    assert.ok(await gh.signIn(email, 'another-long-password-1'));
  });

  it('lists the sessions and signs another one out', async () => {
    const { email, browser } = await signedInUser();
    const other = await gh.signIn(email, PASSWORD);
    const page = await open(browser, '/account/sessions');
    assert.equal([...page.text.matchAll(/action="\/account\/sessions\/revoke"/g)].length, 2);
    assert.match(page.text, /this session/);
    const otherId = (await gh.request('GET', '/api/v1/users/me/sessions', { token: other })).body.sessions.find(
      (s: { current: boolean }) => s.current,
    ).id as string;
    const form = formTo(page.text, '/account/sessions/revoke');
    const revoked = await submit(browser, '/account/sessions', form.action, { ...form.fields, session_id: otherId });
    assert.equal(revoked.url, `${gh.issuer}/account/sessions?notice=session_revoked`);
    assert.equal([...revoked.text.matchAll(/action="\/account\/sessions\/revoke"/g)].length, 1);
    assert.equal((await gh.request('GET', '/api/v1/users/me', { token: other })).status, 401);
    const unknown = await submit(browser, '/account/sessions', form.action, { ...form.fields, session_id: 'nope' });
    assert.equal(unknown.response.status, 404);
  });

  it('names each session by its browser and system (parsed from its User-Agent) and by approximate time', async () => {
    const { email, browser } = await signedInUser();
    const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
    const signedIn = await fetch(`${gh.issuer}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': firefox },
      body: JSON.stringify({ username: email, password: PASSWORD }),
    });
    assert.equal(signedIn.status, 200);
    const page = await open(browser, '/account/sessions');
    assert.match(page.text, /<strong>Firefox on Windows<\/strong>/);
    assert.match(page.text, /Active now · signed in now/);
    assert.doesNotMatch(page.text, /<strong>Mozilla\/5\.0/, 'no raw User-Agent as the name');
    const german = await browser.fetch(`${gh.issuer}/account/sessions`, { headers: { 'accept-language': 'de' } });
    assert.match(await german.text(), /Firefox unter Windows/);
  });

  it('lists the applications the user consented to and revokes one: the grant and its refresh token end, the app is told', async () => {
    const web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Acme Web',
      type: 'web',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      backchannel_logout_uri: 'https://rp.acme.test/logout',
    });
    const config = await client.discovery(new URL(gh.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret), {
      execute: [client.allowInsecureRequests],
    });
    const { id, email, browser } = await signedInUser();
    // Sign in to the application in another browser (the grant holds a refresh token).
    const appBrowser = new Browser();
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const isCallback = (location: string) => location.startsWith(CALLBACK);
    const opened = await appBrowser.follow(url.href, isCallback);
    const signIn = formOf(await opened.response.text());
    let landed = await appBrowser.submit(opened.url, signIn.action, { ...signIn.fields, username: email, password: PASSWORD }, isCallback);
    if (!isCallback(landed.url)) {
      const consent = await landed.response.text();
      const form = formOf(consent);
      landed = await appBrowser.submit(landed.url, form.action, { ...form.fields, decision: 'allow' }, isCallback);
    }
    assert.ok(isCallback(landed.url), `expected the callback, got ${landed.url}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), { pkceCodeVerifier: verifier });
    assert.ok(tokens.refresh_token);

    const token = await gh.signIn(email, PASSWORD);
    const listed = await gh.request('GET', '/api/v1/users/me/applications', { token });
    assert.equal(listed.status, 200);
    assert.equal(listed.body.applications.length, 1);
    assert.equal(listed.body.applications[0].name, 'Acme Web');
    assert.ok(listed.body.applications[0].scopes.includes('email'));

    const page = await open(browser, '/account/applications');
    assert.match(page.text, /Acme Web/);
    const form = formTo(page.text, '/account/applications/revoke');
    const queued = await gh.rowCount('backchannel_logouts');
    const revoked = await submit(browser, '/account/applications', form.action, form.fields);
    assert.equal(revoked.url, `${gh.issuer}/account/applications?notice=app_revoked`);
    assert.match(revoked.text, /No applications yet/);
    assert.equal(await gh.rowCount('backchannel_logouts'), queued + 1);
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token as string));
    assert.equal((await gh.request('GET', '/api/v1/users/me/applications', { token })).body.applications.length, 0);
    assert.equal((await gh.request('DELETE', `/api/v1/users/me/applications/${web.client_id}`, { token })).status, 404);
    const events = await gh.auditEvents(acme.token, { action: 'iam.oauth.consentRevoked', target: id });
    assert.equal(events[0]?.details.client_id, web.client_id);
  });

  it('refuses deletion while the tenant does not allow it, then deletes the account and its session', async () => {
    const { id, email, browser } = await signedInUser();
    const token = await gh.signIn(email, PASSWORD);
    const page = await open(browser, '/account/delete');
    assert.equal(page.response.status, 403);
    assert.match(page.text, /does not let you delete your account/);
    const refused = await gh.request('DELETE', '/api/v1/users/me', { token, body: { password: PASSWORD } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'account_deletion_disabled');

    const allowed = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { account: { allow_deletion: true } },
    });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    const wrong = await gh.request('DELETE', '/api/v1/users/me', { token, body: { password: 'nope' } });
    assert.equal(wrong.status, 401);
    const deleted = await gh.request('DELETE', '/api/v1/users/me', { token, body: { password: PASSWORD } });
    assert.equal(deleted.status, 204);
    assert.equal((await gh.request('GET', '/api/v1/users/me', { token })).status, 401);
    assert.equal((await open(browser, '/account')).response.status, 303, 'the browser session died with the account');
    const events = await gh.auditEvents(acme.token, { action: 'iam.user.deleted', target: id });
    assert.equal(events.length, 1);

    // On the page: the password, then a goodbye page and no session.
    const other = await signedInUser();
    const form = formTo((await open(other.browser, '/account/delete')).text, '/account/delete');
    const goodbye = await submit(other.browser, '/account/delete', form.action, { ...form.fields, password: PASSWORD });
    assert.equal(goodbye.response.status, 200);
    assert.match(goodbye.text, /Your account was deleted/);
    assert.equal((await open(other.browser, '/account')).response.status, 303);
    assert.equal(await gh.ctx.db.selectFrom('users').select('id').where('id', '=', other.id).executeTakeFirst(), undefined);
  });

  it('never lets the last system administrator delete their own account', async () => {
    const { token: admin, systemTenantId } = await gh.systemAdmin();
    await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, { token: admin, body: { account: { allow_deletion: true } } });
    const session = await gh.signIn('admin@gatehouse.test', 'admin-password-for-tests');
    const refused = await gh.request('DELETE', '/api/v1/users/me', { token: session, body: { password: 'admin-password-for-tests' } });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'last_system_administrator');
  });

  it('asks a password-only session of a user with a second factor to prove it before changing credentials', async () => {
    const relaxed = await gh.tenantWithAdmin('relaxed');
    await gh.createUser(relaxed.token, { email: 'pia@relaxed.test', password: PASSWORD });
    const enrolling = await gh.signIn('pia@relaxed.test', PASSWORD);
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/otp', { token: enrolling, body: {} });
    const totp = new TOTP({ secret: Secret.fromBase32(enrolment.body.secret) });
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: enrolling,
      body: { otp: totp.generate() },
    });
    assert.equal(confirmed.status, 200);
    await gh.request('PATCH', `/api/v1/tenants/${relaxed.tenantId}/policies`, { token: relaxed.token, body: { mfa: { policy: 'off' } } });
    const session = await gh.signIn('pia@relaxed.test', PASSWORD);
    const api = await gh.request('POST', '/api/v1/users/me/email', { token: session, body: { email: 'pia@new.test', password: PASSWORD } });
    assert.equal(api.status, 403);
    assert.equal(api.body.error, 'mfa_step_required');
    const cookie = { cookie: `gatehouse_session=${session}` };
    for (const path of ['/account/email', '/account/password']) {
      const page = await fetch(`${gh.issuer}${path}`, { headers: cookie, redirect: 'manual' });
      assert.equal(page.status, 303, path);
      assert.equal(page.headers.get('location'), '/account/sign-in/mfa', path);
    }
    // The profile needs no step-up.
    assert.equal((await fetch(`${gh.issuer}/account`, { headers: cookie, redirect: 'manual' })).status, 200);
  });
});
