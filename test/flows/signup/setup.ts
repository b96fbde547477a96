import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, type StartOptions, type TestGatehouse } from '../../helpers/gatehouse.js';
import { startListeningGatehouse } from '../../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

export const CALLBACK = 'http://localhost:4000/callback';

// The server of the sign-up tests, set by the hooks signupServer() registers
// (an import of a `let` is live: a test reads the value its file's `before` set).
export let gh: TestGatehouse & { issuer: string };
let smtp: SmtpPeer;
/** The tenant acme (sign-up enabled, given_name required) and its application Acme Portal, which allows sign-up. */
export let acme: { tenantId: string; token: string };
export let clientId: string;
export let clientSecret: string;

/** Registers, in the calling describe, the hooks that start a server reading `clock` with an SMTP peer, and stop them. */
export function signupServer(clock: StartOptions['clock']): void {
  before(async () => {
    smtp = await startSmtpPeer();
    gh = await startListeningGatehouse({ clock, config: { smtpUrl: smtp.url, smtpFrom: 'Acme <no-reply@acme.test>' } });
    acme = await gh.tenantWithAdmin('acme');
    const policies = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { signup: { enabled: true, profile_fields: ['given_name', 'family_name'], required_fields: ['given_name'] } },
    });
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [CALLBACK] });
    assert.equal(app.signup_enabled, true, 'an application allows sign-up by default');
    clientId = app.client_id;
    clientSecret = app.client_secret;
  });
  after(async () => {
    await gh?.stop();
    await smtp?.stop();
  });
}

/** The next email to an address, through the real SMTP peer. */
export async function mailTo(to: string) {
  await deliverEmails(gh.ctx);
  return smtp.next(to);
}
export const codeIn = (text: string) => /(\d{6})\s*\n/.exec(text.split('Your code:')[1] ?? '')?.[1] as string;
export const tokenIn = (text: string) => decodeURIComponent(/\/verify\?token=([^\s]+)/.exec(text)?.[1] ?? '');

export async function apiSignup(email: string, extra: Record<string, string> = {}) {
  const started = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: clientId } });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  return gh.request('POST', `/api/v1/flows/registration/${started.body.id}`, {
    body: { email, password: PASSWORD, given_name: 'Ada', ...extra },
  });
}

export const userRow = (email: string) => gh.ctx.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
