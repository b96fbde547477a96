import { sql } from 'kysely';
import { findUserByLogin } from '../../directory/users/users.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { clientSecretDigest, constantTimeEqual } from '../../platform/crypto/secrets.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { supportedLocale } from '../../platform/i18n/index.js';
import { proveCode } from '../passwordless/finish.js';
import type { PasswordlessMethod } from '../passwordless/flow.js';
import { applicationByClientId, type SignInApplication, sendKeyOf, startPasswordless } from '../passwordless/start.js';

/**
 * Auth0's passwordless API (decision 392) over Gatehouse's passwordless flow: `POST
 * /passwordless/start` sends the code (connection `email` or `sms`), and the grant
 * `http://auth0.com/oauth/grant-type/passwordless/otp` spends it at /oauth/token. The same
 * tenant switch (`passwordless.methods`), send caps, five tries per code and the same
 * answer whether or not an account matches.
 */

export interface Auth0PasswordlessStart {
  client_id: string;
  client_secret?: string;
  connection: string;
  email?: string;
  phone_number?: string;
  send?: string;
  authParams?: Record<string, unknown>;
}

/** A confidential application proves itself with its secret (Auth0 asks for it too); a public one needs none. */
async function authenticatedApplication(ctx: AppContext, clientId: string, secret: string | undefined): Promise<SignInApplication> {
  const row = await ctx.db.selectFrom('applications').select('client_secret_digest').where('client_id', '=', clientId).executeTakeFirst();
  if (!row) throw new AppError('unauthorized', 'Unknown client or wrong client secret');
  if (row.client_secret_digest !== null) {
    const given = Buffer.from(secret ? clientSecretDigest(ctx.masterKey, secret) : '');
    if (!constantTimeEqual(given, Buffer.from(row.client_secret_digest))) {
      throw new AppError('unauthorized', 'Unknown client or wrong client secret');
    }
  }
  return applicationByClientId(ctx, clientId);
}

/** Digits and a leading plus: `+49 170 123-4567` and `+491701234567` are one number. */
const phoneDigits = (phone: string) => phone.replace(/[^0-9+]/g, '');

/**
 * The user a phone number names: the one active user whose profile phone is that number
 * and verified. A number on an SMS factor is sealed and cannot be searched; the code goes
 * to the number on record (passwordless/start.ts phoneOf), never to a number typed here.
 */
async function userByPhone(ctx: AppContext, phone: string): Promise<User | undefined> {
  const digits = phoneDigits(phone);
  if (digits.length < 4) return undefined;
  const users = await ctx.db
    .selectFrom('users')
    .selectAll()
    // The expression and predicate of users_verified_phone_idx (migration 0031).
    .where(sql<boolean>`phone_verified`)
    .where(sql<string>`regexp_replace(phone, '[^0-9+]', '', 'g')`, '=', digits)
    .where('status', '=', 'active')
    .limit(2)
    .execute();
  return users.length === 1 ? users[0] : undefined;
}

function methodOf(connection: string, send: string | undefined): PasswordlessMethod {
  if (send !== undefined && send !== 'code') {
    throw new AppError('invalid_request', 'send=link is not supported: send=code, and exchange the code at /oauth/token', {
      field: 'send',
    });
  }
  if (connection === 'email') return 'email_code';
  if (connection === 'sms') return 'sms_code';
  throw new AppError('invalid_request', 'connection must be email or sms', { field: 'connection' });
}

/** The login the flow is started for: the email, or for a phone number its verified owner's email (else the number itself, a nobody). */
async function loginFor(ctx: AppContext, method: PasswordlessMethod, input: { email?: string; phone_number?: string }) {
  if (method === 'sms_code') {
    const phone = input.phone_number?.trim();
    if (!phone) throw new AppError('missing_field', 'phone_number is required', { field: 'phone_number' });
    const user = await userByPhone(ctx, phone);
    return { login: user?.email ?? phone, user };
  }
  const email = input.email?.trim();
  if (!email) throw new AppError('missing_field', 'email is required', { field: 'email' });
  return { login: email, user: await findUserByLogin(ctx.db, email) };
}

export async function auth0PasswordlessStart(ctx: AppContext, input: Auth0PasswordlessStart, actor: Actor) {
  const method = methodOf(input.connection, input.send);
  const application = await authenticatedApplication(ctx, input.client_id, input.client_secret);
  const { login } = await loginFor(ctx, method, input);
  const uiLocales = input.authParams?.ui_locales;
  const locale = supportedLocale(typeof uiLocales === 'string' ? uiLocales.split(' ')[0] : undefined) ?? 'en';
  const flow = await startPasswordless(ctx, { application, method, login, channel: 'api', locale }, actor);
  return method === 'sms_code'
    ? { _id: flow.id, phone_number: input.phone_number, phone_verified: false, request_language: null }
    : { _id: flow.id, email: input.email, email_verified: false };
}

/**
 * The passwordless OTP grant's proof: the newest code flow of this application for the
 * login (`username`: the email, or the phone number for realm `sms`), spent with the
 * code through the flow's own check (the brute-force guard, five tries). Whatever is
 * wrong (no such flow, a wrong code, an account no longer eligible) is `invalid_code`.
 */
export async function proveAuth0Otp(
  ctx: AppContext,
  input: { clientId: string; realm: string; username: string; otp: string },
  actor: Actor,
): Promise<{ userId: string; amr: string[] }> {
  const method = methodOf(input.realm, undefined);
  const application = await applicationByClientId(ctx, input.clientId);
  const found = method === 'sms_code' ? await userByPhone(ctx, input.username) : await findUserByLogin(ctx.db, input.username.trim());
  const login = method === 'sms_code' ? (found?.email ?? input.username.trim()) : input.username.trim();
  const flow = await ctx.db
    .selectFrom('flows')
    .select('id')
    .where('kind', '=', 'passwordless')
    .where('state', '=', 'sent')
    .where('application_id', '=', application.id)
    .where('channel', '=', 'api')
    .where(sql<string>`data->>'send_key'`, '=', sendKeyOf(ctx, found, login))
    .where(sql<string>`data->>'method'`, '=', method)
    .where('expires_at', '>', ctx.clock.now())
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!flow) throw new AppError('invalid_code', 'Wrong email or verification code');
  const proved = await proveCode(ctx, flow.id, input.otp, actor);
  return { userId: proved.user.id, amr: proved.amr };
}
