import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as OTPAuth from 'otpauth';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

/** A clock moved one TOTP step between uses (a code is accepted once per step). */
const offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

const totpCode = (secret: string) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({
    timestamp: clock.now().getTime(),
  });

/** The form posting to `action` (its hidden fields and action). */
function formTo(page: string, action: string) {
  for (const match of page.matchAll(/<form[\s\S]*?<\/form>/g)) {
    if (match[0].includes(`action="${action}"`)) return formOf(match[0]);
  }
  throw new Error(`No form to ${action} on the page:\n${page.slice(0, 3000)}`);
}

describe('the hosted account page for second factors (/account/security)', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let peer: SmtpPeer;
  let acme: TenantAdmin;
  const browser = new Browser();
  let security: string;

  before(async () => {
    peer = await startSmtpPeer();
    gh = await startListeningGatehouse({ clock, config: { smtpUrl: peer.url } });
    acme = await gh.tenantWithAdmin('acme');
    await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token, body: { mfa: { policy: 'required' } } });
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    security = `${gh.issuer}/account/security`;
  });
  after(async () => {
    await gh.stop();
    await peer.stop();
  });

  const page = async (url: string) => {
    const response = await browser.fetch(url);
    return { response, text: await response.text() };
  };

  it('sends a browser without a session to the account sign-in, which refuses a wrong password and a forged form', async () => {
    const first = await browser.fetch(security);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/account/sign-in');
    const signIn = await page(`${gh.issuer}/account/sign-in`);
    assert.equal(signIn.response.headers.get('x-frame-options'), 'DENY');
    const { action, fields } = formOf(signIn.text);
    const forged = await browser.submit(signIn.response.url || `${gh.issuer}/account/sign-in`, action, {
      csrf: 'forged',
      username: 'jane@acme.test',
      password: PASSWORD,
    });
    assert.equal(forged.response.status, 403);
    const wrong = await browser.submit(`${gh.issuer}/account/sign-in`, action, { ...fields, username: 'jane@acme.test', password: 'nope' });
    assert.equal(wrong.response.status, 401);
    assert.match(await wrong.response.text(), /Wrong username or password/);
    const right = await browser.submit(`${gh.issuer}/account/sign-in`, action, {
      ...fields,
      username: 'jane@acme.test',
      password: PASSWORD,
    });
    assert.equal(right.url, security);
    const text = await right.response.text();
    assert.match(text, /Your organization requires two-step verification/);
    assert.match(text, /No methods yet/);
  });

  let secret: string;

  it('adds an authenticator app: QR code and secret, a wrong code refused, then recovery codes shown once', async () => {
    const { text } = await page(security);
    const start = formTo(text, '/account/security/totp');
    const added = await browser.submit(security, start.action, start.fields);
    const addPage = await added.response.text();
    assert.match(addPage, /<img class="qr" src="data:image\/png;base64,/);
    secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(addPage)?.[1] as string;
    const confirm = formTo(addPage, '/account/security/confirm');
    const wrong = await browser.submit(security, confirm.action, { ...confirm.fields, code: '000000' });
    assert.equal(wrong.response.status, 401);
    assert.match(await wrong.response.text(), new RegExp(secret), 'the same secret, to try again');
    const right = await browser.submit(security, confirm.action, { ...confirm.fields, code: totpCode(secret) });
    assert.equal(right.response.status, 200);
    const codes = [...(await right.response.text()).matchAll(/<li><code>([^<]+)<\/code><\/li>/g)];
    assert.equal(codes.length, 10);
    const listed = await page(security);
    assert.equal(listed.response.status, 200);
    assert.match(listed.text, /Authenticator app/);
    assert.match(listed.text, /Recovery codes/);
  });

  it('refuses to remove the last factor where MFA is required', async () => {
    const { text } = await page(security);
    const remove = formTo(text, '/account/security/remove');
    const refused = await browser.submit(security, remove.action, remove.fields);
    assert.equal(refused.response.status, 409);
    assert.match(await refused.response.text(), /Authenticator app/);
  });

  it('adds email codes with the code read from a real SMTP server, then removing the app is allowed', async () => {
    const { text } = await page(security);
    const email = formTo(text, '/account/security/email');
    const sent = await browser.submit(security, email.action, email.fields);
    const confirmPage = await sent.response.text();
    assert.match(confirmPage, /We sent a code to <strong>j•••@acme\.test<\/strong>/);
    await deliverEmails(gh.ctx);
    const mail = await peer.next('jane@acme.test');
    const code = /(\d{6})/.exec(mail.text)?.[1] as string;
    const confirm = formTo(confirmPage, '/account/security/confirm');
    const done = await browser.submit(security, confirm.action, { ...confirm.fields, code });
    assert.equal(done.url, `${security}?notice=added`);
    const listed = await done.response.text();
    assert.match(listed, /Email codes/);
    const removeApp = [...listed.matchAll(/<li class="factor">[\s\S]*?<\/li>/g)].find((m) => m[0].includes('Authenticator app'));
    const removed = await browser.submit(security, '/account/security/remove', formOf(removeApp?.[0] as string).fields);
    assert.equal(removed.url, `${security}?notice=removed`);
    assert.doesNotMatch(await removed.response.text(), /Authenticator app/);
  });

  it('answers malformed input with a 4xx page, never a 500', async () => {
    const { text } = await page(security);
    const remove = formTo(text, '/account/security/remove');
    const unknown = await browser.submit(security, remove.action, { ...remove.fields, factor_id: 'not-a-uuid' });
    assert.equal(unknown.response.status, 404);
    const passkey = formTo(text, '/account/security/passkey');
    const garbage = await browser.submit(security, passkey.action, { ...passkey.fields, response: '{not json' });
    assert.equal(garbage.response.status, 400);
    const forged = await browser.submit(security, passkey.action, { ...passkey.fields, response: '{"id":"x","response":{}}' });
    assert.equal(forged.response.status, 400);
    const confirm = await browser.submit(security, '/account/security/confirm', {
      csrf: remove.fields.csrf as string,
      method: 'oob',
      factor_id: '00000000-0000-7000-8000-000000000000',
      oob_code: 'x',
      code: '123456',
    });
    assert.equal(confirm.response.status, 404);
  });

  it('gives new recovery codes, shown once', async () => {
    const { text } = await page(security);
    const regenerate = formTo(text, '/account/security/recovery-codes');
    const shown = await browser.submit(security, regenerate.action, regenerate.fields);
    assert.equal([...(await shown.response.text()).matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].length, 10);
  });

  it('signs a new browser in with the password and an emailed code', async () => {
    const other = new Browser();
    const signIn = await other.fetch(`${gh.issuer}/account/sign-in`);
    const { action, fields } = formOf(await signIn.text());
    const mfa = await other.submit(`${gh.issuer}/account/sign-in`, action, { ...fields, username: 'jane@acme.test', password: PASSWORD });
    assert.match(mfa.url, /\/account\/sign-in\/mfa$/);
    const challenge = await mfa.response.text();
    assert.match(challenge, /Email a code to j•••@acme\.test/);
    const send = formTo(challenge, '/account/sign-in/mfa/send');
    const sent = await other.submit(mfa.url, send.action, send.fields);
    const codePage = await sent.response.text();
    await deliverEmails(gh.ctx);
    const code = /(\d{6})/.exec((await peer.next('jane@acme.test')).text)?.[1] as string;
    const answer = formTo(codePage, '/account/sign-in/mfa');
    const wrong = await other.submit(mfa.url, answer.action, { ...answer.fields, code: code === '000000' ? '111111' : '000000' });
    assert.equal(wrong.response.status, 401);
    const done = await other.submit(mfa.url, answer.action, { ...answer.fields, code });
    // Opened directly (not on the way to a page), the account sign-in ends at the account home.
    assert.equal(done.url, `${gh.issuer}/account`);
    assert.match(await done.response.text(), /Your profile/);
    assert.match(await (await other.fetch(security)).text(), /Email codes/);
  });
});
