/**
 * Issue 5, part 3: administrator-created users and invitations. An invitation link sets the
 * first password (single use, 7 days, resendable, revocable); a temporary password is
 * changed at the first sign-in (the hosted sign-in asks for the new one); an existing user
 * joins another tenant by accepting signed in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

const CHOSEN = 'my-own-chosen-password';
const CALLBACK = 'http://localhost:4000/callback';
const atCallback = (location: string) => location.startsWith(CALLBACK);

describe('invitations and temporary passwords', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let smtp: SmtpPeer;
  let acme: TenantAdmin;
  let beta: TenantAdmin;
  let roles: Record<string, string>;
  let config: client.Configuration;
  let offsetMs = 0;
  let counter = 0;

  before(async () => {
    smtp = await startSmtpPeer();
    gh = await startListeningGatehouse({
      clock: { now: () => new Date(Date.now() + offsetMs) },
      config: { smtpUrl: smtp.url, smtpFrom: 'Gatehouse <no-reply@gatehouse.test>' },
    });
    acme = await gh.tenantWithAdmin('acme');
    beta = await gh.tenantWithAdmin('beta');
    roles = await gh.systemRoleIds();
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Portal', type: 'web', redirect_uris: [CALLBACK] });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });
  after(async () => {
    await gh.stop();
    await smtp.stop();
  });

  const mailTo = async (to: string) => {
    await deliverEmails(gh.ctx);
    return smtp.next(to, 5_000);
  };
  const linkIn = (text: string) => {
    const match = /(http:\/\/\S+\/invitation\?token=[\w.%-]+)/.exec(text);
    assert.ok(match, `an invitation link in:\n${text}`);
    return match[1] as string;
  };
  const tokenOf = (link: string) => new URL(link).searchParams.get('token') as string;
  const invite = async (email = `new${++counter}@acme.test`) => {
    const created = await gh.request('POST', '/api/v1/users', { token: acme.token, body: { email, invite: true } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'pending');
    return { id: created.body.id as string, email, link: linkIn((await mailTo(email)).text) };
  };
  /** Opens the link and posts its form with the chosen password. */
  async function acceptInBrowser(browser: Browser, link: string, password = CHOSEN) {
    const page = await browser.fetch(link);
    const body = await page.text();
    if (page.status !== 200) return { status: page.status, body, response: page };
    const { action, fields } = formOf(body);
    const response = await browser.fetch(new URL(action, link).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, password }),
    });
    return { status: response.status, body: await response.text(), response };
  }

  it('create with invite: an email, a set-password page with the tenant’s branding, then active, verified and signed in', async () => {
    const { id, email, link } = await invite();
    const page = await (await fetch(link)).text();
    assert.match(page, /ACME/);
    assert.match(page, /<label for="password">/);
    const browser = new Browser();
    const accepted = await acceptInBrowser(browser, link);
    assert.equal(accepted.status, 303);
    assert.equal(accepted.response.headers.get('location'), '/account');
    assert.ok(accepted.response.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session=')));
    const user = await gh.request('GET', `/api/v1/users/${id}`, { token: acme.token });
    assert.equal(user.body.status, 'active');
    assert.equal(user.body.email_verified, true);
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: CHOSEN } })).status, 200);
    const [event] = await gh.auditEvents(acme.token, { action: 'iam.user.invitationAccepted', target: id });
    assert.ok(event);
    // Used: the link is dead.
    const reused = await fetch(link);
    assert.equal(reused.status, 400);
    assert.match(await reused.text(), /not valid/);
  });

  it('resend voids the old link; revoke kills the link and leaves the user pending', async () => {
    const { id, email, link: first } = await invite();
    const resent = await gh.request('POST', `/api/v1/users/${id}/invitation`, { token: acme.token });
    assert.equal(resent.status, 201, JSON.stringify(resent.body));
    const second = linkIn((await mailTo(email)).text);
    assert.equal((await fetch(first)).status, 400, 'the old link is dead');
    assert.equal((await fetch(second)).status, 200);
    assert.equal((await gh.request('DELETE', `/api/v1/users/${id}/invitation`, { token: acme.token })).status, 204);
    assert.equal((await fetch(second)).status, 400, 'the revoked link is dead');
    assert.equal((await gh.request('GET', `/api/v1/users/${id}`, { token: acme.token })).body.status, 'pending');
    const api = await gh.request('POST', '/api/v1/flows/invitation/accept', { body: { token: tokenOf(second), password: CHOSEN } });
    assert.equal(api.body.error, 'link_invalid');
  });

  it('another tenant’s administrator can neither resend nor revoke (home-tenant rule)', async () => {
    const { id } = await invite();
    await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/members`, { token: await gh.adminToken(), body: { userId: id } });
    const resend = await gh.request('POST', `/api/v1/users/${id}/invitation`, { token: beta.token });
    assert.equal(resend.body.error, 'not_home_tenant');
    const revoke = await gh.request('DELETE', `/api/v1/users/${id}/invitation`, { token: beta.token });
    assert.equal(revoke.body.error, 'not_home_tenant');
  });

  it('an invitation expires after 7 days; a forged link is refused; an active user is not invited', async () => {
    const { link } = await invite();
    offsetMs = 7 * 24 * 3600_000 + 60_000;
    try {
      const expired = await fetch(link);
      assert.equal(expired.status, 410);
      assert.match(await expired.text(), /expired/);
      const api = await gh.request('POST', '/api/v1/flows/invitation/accept', { body: { token: tokenOf(link), password: CHOSEN } });
      assert.equal(api.body.error, 'link_expired');
    } finally {
      offsetMs = 0;
    }
    assert.equal((await fetch(`${gh.issuer}/invitation?token=ghf_forged`)).status, 400);
    const active = await gh.createUser(acme.token, { email: `active${++counter}@acme.test`, password: PASSWORD });
    const refused = await gh.request('POST', `/api/v1/users/${active}/invitation`, { token: acme.token });
    assert.equal(refused.body.error, 'not_pending');
    const both = await gh.request('POST', '/api/v1/users', {
      token: acme.token,
      body: { email: 'both@acme.test', invite: true, password: PASSWORD },
    });
    assert.equal(both.status, 400);
  });

  it('the API twin accepts with a password; the page refuses a forged CSRF token and a weak password', async () => {
    const { email, link } = await invite();
    const browser = new Browser();
    const page = await (await browser.fetch(link)).text();
    const { action, fields } = formOf(page);
    const forged = await browser.submit(link, action, { ...fields, csrf: 'forged', password: CHOSEN });
    assert.equal(forged.response.status, 403);
    const weak = await browser.submit(link, action, { ...fields, password: 'short' });
    assert.equal(weak.response.status, 400);
    assert.match(await weak.response.text(), /role="alert"/);
    const inspected = await gh.request('POST', '/api/v1/flows/invitation/inspect', { body: { token: tokenOf(link) } });
    assert.equal(inspected.status, 200);
    assert.equal(inspected.body.mode, 'activate');
    assert.equal(inspected.body.email, email);
    assert.equal(inspected.body.tenant_name, 'ACME');
    const api = await gh.request('POST', '/api/v1/flows/invitation/accept', { body: { token: tokenOf(link), password: CHOSEN } });
    assert.equal(api.status, 204, JSON.stringify(api.body));
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: CHOSEN } })).status, 200);
  });

  it('temporary password: the API sign-in answers password_change_required; the hosted sign-in asks for a new one and goes on', async () => {
    const email = `temp${++counter}@acme.test`;
    await gh.createUser(acme.token, { email, password: PASSWORD, temporary: true });
    const api = await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } });
    assert.equal(api.body.error, 'password_change_required');

    const browser = new Browser();
    const authorize = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid email', state: client.randomState() });
    const { response, url } = await browser.follow(authorize.href);
    const signIn = formOf(await response.text());
    // A wrong password never reaches the new-password form.
    const wrong = await browser.submit(url, signIn.action, { ...signIn.fields, username: email, password: 'not-the-password' });
    assert.equal(wrong.response.status, 401);
    const shown = await browser.submit(url, signIn.action, { ...signIn.fields, username: email, password: PASSWORD });
    assert.equal(shown.response.status, 200);
    const page = await shown.response.text();
    assert.match(page, /Choose a new password/);
    const change = formOf(page);
    // The form is bound to the flow: a forged CSRF token or another flow id is refused.
    const forged = await browser.submit(url, change.action, { ...change.fields, csrf: 'forged', password: CHOSEN });
    assert.equal(forged.response.status, 403);
    const same = await browser.submit(url, change.action, { ...change.fields, password: PASSWORD });
    assert.equal(same.response.status, 400);
    assert.match(await same.response.text(), /other than the current one/);
    const done = await browser.submit(url, change.action, { ...change.fields, password: CHOSEN }, atCallback);
    assert.match(done.url, /[?&]code=/, 'the application receives a code');
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: CHOSEN } })).status, 200);
  });

  it('another browser cannot use the new-password form (it is bound to the browser that proved the password)', async () => {
    const email = `temp${++counter}@acme.test`;
    await gh.createUser(acme.token, { email, password: PASSWORD, temporary: true });
    const browser = new Browser();
    const authorize = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid email', state: client.randomState() });
    const { response, url } = await browser.follow(authorize.href);
    const signIn = formOf(await response.text());
    const shown = await browser.submit(url, signIn.action, { ...signIn.fields, username: email, password: PASSWORD });
    const change = formOf(await shown.response.text());
    const stranger = await fetch(new URL(change.action, url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...change.fields, password: CHOSEN }),
    });
    assert.ok(stranger.status >= 400);
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: CHOSEN } })).status, 401);
  });

  it('an existing user is invited into another tenant with a role and accepts signed in; no other account can', async () => {
    const email = `member${++counter}@acme.test`;
    const userId = await gh.createUser(acme.token, { email, password: PASSWORD });
    const outsider = `outsider${counter}@acme.test`;
    await gh.createUser(acme.token, { email: outsider, password: PASSWORD });
    const created = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, {
      token: beta.token,
      body: { email, roles: [roles.TENANT_ADMIN] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.mode, undefined, 'a tenant administrator is not told the address has an account');
    assert.equal(created.body.user_id, undefined);
    const listed = await gh.request('GET', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: beta.token });
    assert.deepEqual(
      listed.body.invitations.map((i: { id: string }) => i.id),
      [created.body.id],
    );
    // Another tenant's administrator sees none of it (not even that the tenant exists).
    assert.equal((await gh.request('GET', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: acme.token })).status, 404);
    const link = linkIn((await mailTo(email)).text);

    // Not signed in: the page asks to sign in first.
    const anonymous = await (await fetch(link)).text();
    assert.match(anonymous, /Sign in as/);
    // Signed in as another account: refused.
    const other = await gh.signIn(outsider, PASSWORD);
    const wrong = await fetch(link, { headers: { cookie: `gatehouse_session=${other}` } });
    assert.equal(wrong.status, 403);
    const refused = await gh.request('POST', '/api/v1/flows/invitation/join', { token: other, body: { token: tokenOf(link) } });
    assert.equal(refused.body.error, 'invitation_wrong_account');

    // Signed in as the invited account: an Accept button, whose POST (with its CSRF token, made for this
    // browser's binding cookie) adds the membership.
    const session = await gh.signIn(email, PASSWORD);
    const opened = await fetch(link, { headers: { cookie: `gatehouse_session=${session}` } });
    const binding = opened.headers
      .getSetCookie()
      .find((c) => c.startsWith('gatehouse_flow='))
      ?.split(';')[0];
    assert.ok(binding, 'the page sets the browser binding');
    const cookie = `gatehouse_session=${session}; ${binding}`;
    const page = await opened.text();
    const { action, fields } = formOf(page);
    const forged = await fetch(new URL(action, link), {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, csrf: 'forged' }),
    });
    assert.equal(forged.status, 403);
    const accepted = await fetch(new URL(action, link), {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    assert.equal(accepted.status, 200);
    assert.match(await accepted.text(), /now a member of BETA/);
    const member = (await gh.members(beta.token, beta.tenantId)).find((m) => m.user_id === userId);
    assert.deepEqual(
      member?.roles.map((r) => r.name),
      ['TENANT_ADMIN'],
    );
    assert.equal((await fetch(link, { headers: { cookie } })).status, 400, 'the link is spent');
    const again = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: beta.token, body: { email } });
    assert.equal(again.body.error, 'already_member');
  });

  it('a tenant invitation to an unknown address makes no account until accepted (decision 186); it can be revoked', async () => {
    const email = `stranger${++counter}@example.test`;
    const created = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: beta.token, body: { email } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.mode, undefined);
    const listed = await gh.request('GET', `/api/v1/users?email=${encodeURIComponent(email)}`, { token: beta.token });
    assert.deepEqual(listed.body.users, [], 'no pending user shows before the invitation is accepted');
    assert.equal(await gh.ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst(), undefined);
    const link = linkIn((await mailTo(email)).text);
    const revoked = await gh.request('DELETE', `/api/v1/tenants/${beta.tenantId}/invitations/${created.body.id}`, { token: beta.token });
    assert.equal(revoked.status, 204);
    assert.equal((await fetch(link)).status, 400);
    // A tenant administrator invites into the own tenant only.
    const foreign = await gh.request('POST', `/api/v1/tenants/${acme.tenantId}/invitations`, { token: beta.token, body: { email } });
    assert.equal(foreign.status, 404);
  });

  it('accepting a tenant invitation to an unknown address makes the account: homed in the tenant, a member with the roles', async () => {
    const email = `newcomer${++counter}@example.test`;
    const created = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, {
      token: beta.token,
      body: { email, roles: [roles.TENANT_ADMIN] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const link = linkIn((await mailTo(email)).text);
    const inspected = await gh.request('POST', '/api/v1/flows/invitation/inspect', { body: { token: tokenOf(link) } });
    assert.equal(inspected.body.mode, 'activate');
    assert.equal(inspected.body.email, email);
    const accepted = await gh.request('POST', '/api/v1/flows/invitation/accept', { body: { token: tokenOf(link), password: CHOSEN } });
    assert.equal(accepted.status, 204, JSON.stringify(accepted.body));
    const [user] = (await gh.request('GET', `/api/v1/users?email=${encodeURIComponent(email)}`, { token: beta.token })).body.users;
    assert.equal(user.status, 'active');
    assert.equal(user.email_verified, true);
    assert.equal(user.home_tenant_id, beta.tenantId);
    assert.equal(user.managed, true);
    const member = (await gh.members(beta.token, beta.tenantId)).find((m) => m.user_id === user.id);
    assert.deepEqual(
      member?.roles.map((r) => r.name),
      ['TENANT_ADMIN'],
    );
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: CHOSEN } })).status, 200);
    assert.equal((await fetch(link)).status, 400, 'the link is spent');
  });

  it('a tenant administrator gets the same answer for an address with an account elsewhere and an unknown one; a system administrator sees the mode', async () => {
    const elsewhere = `elsewhere${++counter}@acme.test`;
    await gh.createUser(acme.token, { email: elsewhere, password: PASSWORD });
    const unknown = `unknown${counter}@example.test`;
    const shape = (body: Record<string, unknown>) => Object.keys(body).sort();
    const a = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: beta.token, body: { email: elsewhere } });
    const b = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: beta.token, body: { email: unknown } });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal(b.status, 201, JSON.stringify(b.body));
    assert.deepEqual(shape(a.body), shape(b.body));
    for (const body of [a.body, b.body]) {
      assert.equal(body.mode, undefined);
      assert.equal(body.user_id, undefined);
    }
    assert.deepEqual(
      { ...a.body, id: '', email: '', expires_at: '', created_at: '' },
      { ...b.body, id: '', email: '', expires_at: '', created_at: '' },
    );
    const listed = (await gh.request('GET', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: beta.token })).body.invitations;
    assert.ok(listed.every((i: Record<string, unknown>) => i.mode === undefined && i.user_id === undefined));
    // The system administrator still sees what each invitation is.
    const admin = await gh.adminToken();
    const all = (await gh.request('GET', `/api/v1/tenants/${beta.tenantId}/invitations`, { token: admin })).body.invitations;
    assert.equal(all.find((i: { id: string }) => i.id === a.body.id)?.mode, 'join');
    assert.equal(all.find((i: { id: string }) => i.id === b.body.id)?.mode, 'activate');
    const third = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, {
      token: admin,
      body: { email: `unknown${++counter}@example.test` },
    });
    assert.equal(third.body.mode, 'activate');
    assert.equal(third.body.user_id, null, 'an unknown address gets its account when it accepts (decision 186)');
  });

  it('the activation form is bound to the browser that opened the link: its token without the browser’s cookie is refused', async () => {
    const { email, link } = await invite();
    const browser = new Browser();
    const { action, fields } = formOf(await (await browser.fetch(link)).text());
    // The link's holder knows the flow, not the victim browser's binding: the same form posted from elsewhere fails.
    const elsewhere = await fetch(new URL(action, link), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, password: CHOSEN }),
    });
    assert.equal(elsewhere.status, 403);
    const other = new Browser();
    await other.fetch(link);
    const otherBrowser = await other.submit(link, action, { ...fields, password: CHOSEN });
    assert.equal(otherBrowser.response.status, 403, 'another browser’s cookie does not match the token');
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: CHOSEN } })).status, 401);
    await browser.submit(link, action, { ...fields, password: CHOSEN });
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: CHOSEN } })).status, 200);
  });

  /** A join invitation into beta from beta's administrator, for a new account of acme; its link and the account's session. */
  async function joinInvitation(token: string, roleIds: string[]) {
    const email = `joiner${++counter}@acme.test`;
    await gh.createUser(acme.token, { email, password: PASSWORD });
    const created = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, { token, body: { email, roles: roleIds } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const link = linkIn((await mailTo(email)).text);
    return { link, session: await gh.signIn(email, PASSWORD) };
  }
  const join = (link: string, session: string) =>
    gh.request('POST', '/api/v1/flows/invitation/join', { token: session, body: { token: tokenOf(link) } });

  it('acceptance checks the roles again: a role deleted, or given a restricted permission, since the invitation refuses it', async () => {
    const admin = await gh.adminToken();
    const helper = await gh.created('/api/v1/roles', admin, { name: `Helper ${++counter}`, permissions: ['tenant.account.read'] });
    const gone = await gh.created('/api/v1/roles', admin, { name: `Gone ${counter}`, permissions: ['tenant.account.read'] });
    const first = await joinInvitation(beta.token, [helper.id]);
    const second = await joinInvitation(beta.token, [gone.id]);
    const patched = await gh.request('PATCH', `/api/v1/roles/${helper.id}`, {
      token: admin,
      body: { permissions: ['tenant.account.read', 'iam.account.read'] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await gh.request('DELETE', `/api/v1/roles/${gone.id}`, { token: admin })).status, 204);
    const restricted = await join(first.link, first.session);
    assert.equal(restricted.status, 400);
    assert.equal(restricted.body.error, 'invalid_invitation');
    assert.equal(restricted.body.details?.reason, 'restricted_permission');
    const unknown = await join(second.link, second.session);
    assert.equal(unknown.body.error, 'invalid_invitation');
    assert.equal(unknown.body.details?.reason, 'unknown_role');
    const members = await gh.members(beta.token, beta.tenantId);
    assert.ok(!members.some((m) => m.roles.some((r) => r.id === helper.id)), 'no membership was added');
  });

  it('an invitation dies with its inviter: a disabled or removed administrator’s open invitations are refused at acceptance', async () => {
    const admin = await gh.adminToken();
    const inviterEmail = `inviter${++counter}@beta.test`;
    const inviterId = await gh.createUser(beta.token, { email: inviterEmail, password: PASSWORD, roles: [roles.TENANT_ADMIN] });
    const inviterToken = await gh.tokenFor(await gh.signIn(inviterEmail, PASSWORD), beta.tenantId);
    const joining = await joinInvitation(inviterToken, [roles.USER as string]);
    const pending = await gh.request('POST', `/api/v1/tenants/${beta.tenantId}/invitations`, {
      token: inviterToken,
      body: { email: `pending${counter}@example.test` },
    });
    assert.equal(pending.status, 201, JSON.stringify(pending.body));
    const activation = linkIn((await mailTo(`pending${counter}@example.test`)).text);
    const disabled = await gh.request('PATCH', `/api/v1/users/${inviterId}`, { token: admin, body: { status: 'disabled' } });
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    const refused = await join(joining.link, joining.session);
    assert.equal(refused.body.error, 'invalid_invitation');
    assert.match(refused.body.message, /no longer has an active account/);
    const activate = await gh.request('POST', '/api/v1/flows/invitation/accept', {
      body: { token: tokenOf(activation), password: CHOSEN },
    });
    assert.equal(activate.body.error, 'invalid_invitation');
    // Active again but no longer a member of the tenant: still refused.
    await gh.request('PATCH', `/api/v1/users/${inviterId}`, { token: admin, body: { status: 'active' } });
    const removed = await gh.request('DELETE', `/api/v1/tenants/${beta.tenantId}/members/${inviterId}`, { token: beta.token });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    const stillRefused = await join(joining.link, joining.session);
    assert.equal(stillRefused.body.error, 'invalid_invitation');
    assert.match(stillRefused.body.message, /may no longer invite/);
  });
});
