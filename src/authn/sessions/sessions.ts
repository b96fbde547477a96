import type { Kysely } from 'kysely';
import { findUserByLogin } from '../../directory/users/users.js';
import { type Actor, auditRows, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { needsRehash } from '../../platform/crypto/passwords.js';
import { fingerprint, randomToken, sha256 } from '../../platform/crypto/secrets.js';
import type { Database, Session, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import { assertNotRefusedRecently, guardAttempt } from '../protection/guard.js';
import { mustVerifyEmailFirst } from './verified-email-rule.js';

/** The default lifetimes (docs/architecture.md#tokens); "remember me" keeps a browser signed in for 30 days of use. */
export const SESSION_LIFETIMES = {
  idleMs: 30 * 60_000,
  absoluteMs: 7 * 24 * 3600_000,
  rememberIdleMs: 7 * 24 * 3600_000,
  rememberAbsoluteMs: 30 * 24 * 3600_000,
} as const;

/** How often a session's idle deadline is pushed forward (not on every request). */
const TOUCH_EVERY_MS = 60_000;

export interface SignInInput {
  username: string;
  password: string;
  rememberMe?: boolean;
}

export interface SignedIn {
  token: string;
  session: Session;
  user: User;
}

/**
 * Checks a username and password (the sign-in form, /api/v1/session and the password
 * grant alike). Unknown user and wrong password fail the same way after the same work
 * (a verify against a dummy hash); a disabled account is reported only after the right
 * password, so the answer never tells whether an account exists. Failures are audited.
 * With `passwordChange` (the password-change endpoint) a required password change does not stop it.
 * Every attempt goes through the brute-force guard (src/protection/guard.ts): once a limit
 * applies, the answer is `429 too_many_attempts` for known and unknown accounts alike.
 */
export async function authenticate(
  ctx: AppContext,
  input: { username: string; password: string },
  actor: Actor,
  options: { passwordChange?: boolean } = {},
): Promise<User> {
  assertNotRefusedRecently(ctx, 'password', input.username, actor.ip);
  const user = await findUserByLogin(ctx.db, input.username);
  const subject = {
    userId: user?.id ?? null,
    login: input.username.trim().toLowerCase(),
    ip: actor.ip,
    tenantId: user?.home_tenant_id ?? null,
  };
  try {
    // Brute-force protection first: a locked account or blocked address is refused before any hashing.
    await guardAttempt(
      ctx,
      'password',
      subject,
      () => ctx.passwords.verify(user?.password_hash, input.password),
      () => new AppError('invalid_credentials', 'Wrong username or password'),
    );
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_credentials') {
      await recordAudit(ctx.db, ctx, {
        action: 'iam.user.loginFailed',
        actor,
        outcome: 'failure',
        ...(user && { target: { type: 'user', id: user.id }, tenantId: user.home_tenant_id }),
        // An unknown username may be a password typed in the wrong field: keep only its fingerprint.
        details: user
          ? { reason: 'wrong_password' }
          : { reason: 'unknown_user', username_fingerprint: usernameFingerprint(ctx, input.username) },
      });
    }
    throw error;
  }
  if (!user) throw new AppError('invalid_credentials', 'Wrong username or password'); // unreachable: no hash verifies
  /** A refusal after the right password, audited as the user's failed sign-in. */
  const refused = (reason: string) =>
    recordAudit(ctx.db, ctx, {
      action: 'iam.user.loginFailed',
      actor: { ...actor, type: 'user', id: user.id },
      outcome: 'failure',
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { reason },
    });
  if (user.status !== 'active') {
    await refused(`account_${user.status}`);
    throw new AppError('account_disabled', 'This account is disabled');
  }
  // Self-registration (decision 151): an unverified self-registered user, after the right password only.
  if (await mustVerifyEmailFirst(ctx, user)) {
    await refused('email_not_verified');
    throw new AppError('email_not_verified', 'Verify your email address first; to get a new email: POST /api/v1/flows/verification', {
      resend: '/api/v1/flows/verification',
    });
  }
  // An administrator required a new password (decision 123): only changing it gets in.
  if (user.password_reset_required && !options.passwordChange) {
    await refused('password_change_required');
    throw new AppError('password_change_required', 'Choose a new password first: POST /api/v1/session/password', {
      change_password: '/api/v1/session/password',
    });
  }
  return user.password_hash && needsRehash(user.password_hash) ? upgradeHash(ctx, user, input.password) : user;
}

/**
 * An imported (bcrypt, PBKDF2, scrypt, other argon2) hash is replaced by our argon2id after
 * the first sign-in that proves the password (decision 140). A hash changed meanwhile
 * (a password change on another node) is left alone.
 */
async function upgradeHash(ctx: AppContext, user: User, password: string): Promise<User> {
  const hash = await ctx.passwords.hash(password);
  const updated = await ctx.db
    .updateTable('users')
    .set({ password_hash: hash })
    .where('id', '=', user.id)
    .where('password_hash', '=', user.password_hash)
    .returningAll()
    .executeTakeFirst();
  return updated ?? user;
}

/** Password sign-in: authenticate, then open a session. */
export async function signIn(ctx: AppContext, input: SignInInput, actor: Actor): Promise<SignedIn> {
  const user = await authenticate(ctx, input, actor);
  return openSession(ctx, user, { rememberMe: input.rememberMe }, actor);
}

/**
 * Opens a session for a user who has proved who they are: after the password alone, or
 * after the password and a second factor (the hosted sign-in's MFA step). `amr` records
 * how (RFC 8176), so a step-up can tell whether this session already did MFA;
 * `connectionId` the federation connection it signed in through (`/v2/logout?federated`).
 */
export async function openSession(
  ctx: AppContext,
  user: User,
  options: { rememberMe?: boolean | undefined; amr?: string[]; connectionId?: string | null | undefined },
  actor: Actor,
): Promise<SignedIn> {
  const now = ctx.clock.now();
  const remember = options.rememberMe === true;
  const token = randomToken('ghs');
  const sessionId = ctx.ids.next();
  const amr = options.amr ?? ['pwd'];
  const { audit, outbox } = auditRows(ctx, {
    action: 'iam.user.loginSucceeded',
    actor: { ...actor, type: 'user', id: user.id },
    tenantId: user.home_tenant_id,
    target: { type: 'user', id: user.id },
    details: { session_id: sessionId, remember_me: remember, ...(options.amr && { amr }) },
  });
  // The hot path of every sign-in: one statement (atomic on its own) writes the session,
  // the last-login time and the audit event, so the database round trips stay at two.
  const session = await ctx.db
    .with('login', (qb) => qb.updateTable('users').set({ last_login_at: now }).where('id', '=', user.id))
    .with('audit', (qb) => qb.insertInto('audit_events').values(audit))
    .with('outbox', (qb) => qb.insertInto('event_outbox').values(outbox))
    .insertInto('sessions')
    .values({
      id: sessionId,
      user_id: user.id,
      token_hash: sha256(token),
      remember_me: remember,
      created_at: now,
      last_seen_at: now,
      idle_expires_at: new Date(now.getTime() + (remember ? SESSION_LIFETIMES.rememberIdleMs : SESSION_LIFETIMES.idleMs)),
      expires_at: new Date(now.getTime() + (remember ? SESSION_LIFETIMES.rememberAbsoluteMs : SESSION_LIFETIMES.absoluteMs)),
      ip: actor.ip,
      user_agent: actor.userAgent,
      amr,
      connection_id: options.connectionId ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { token, session, user: { ...user, last_login_at: now } };
}

/** How a failed sign-in of an unknown username is recorded: a keyed fingerprint, never the name as typed. */
export const usernameFingerprint = (ctx: AppContext, username: string) =>
  fingerprint(ctx.masterKey, 'sign-in-username', username.trim().toLowerCase());

/** The session a token opens, if it is live and its user active; pushes the idle deadline forward. */
export async function sessionFromToken(ctx: AppContext, token: string, touch = true): Promise<ActiveSession | undefined> {
  return loadActiveSession(ctx, 'token_hash', sha256(token), touch);
}

export async function sessionById(ctx: AppContext, id: string, touch = true): Promise<ActiveSession | undefined> {
  return loadActiveSession(ctx, 'id', id, touch);
}

async function loadActiveSession(
  ctx: AppContext,
  column: 'id' | 'token_hash',
  value: string | Buffer,
  touch: boolean,
): Promise<ActiveSession | undefined> {
  const now = ctx.clock.now();
  const row = await ctx.db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .selectAll('u')
    .select([
      's.id as s_id',
      's.token_hash as s_token_hash',
      's.remember_me as s_remember_me',
      's.created_at as s_created_at',
      's.last_seen_at as s_last_seen_at',
      's.idle_expires_at as s_idle_expires_at',
      's.expires_at as s_expires_at',
      's.revoked_at as s_revoked_at',
      's.ip as s_ip',
      's.user_agent as s_user_agent',
      's.amr as s_amr',
      's.connection_id as s_connection_id',
    ])
    .where(`s.${column}`, '=', value as string)
    .where('s.revoked_at', 'is', null)
    .where('s.expires_at', '>', now)
    .where('s.idle_expires_at', '>', now)
    .where('u.status', '=', 'active')
    .executeTakeFirst();
  if (!row) return undefined;
  const {
    s_id,
    s_token_hash,
    s_remember_me,
    s_created_at,
    s_last_seen_at,
    s_idle_expires_at,
    s_expires_at,
    s_revoked_at,
    s_ip,
    s_user_agent,
    s_amr,
    s_connection_id,
    ...user
  } = row;
  const session: Session = {
    id: s_id,
    user_id: user.id,
    token_hash: s_token_hash,
    remember_me: s_remember_me,
    created_at: s_created_at,
    last_seen_at: s_last_seen_at,
    idle_expires_at: s_idle_expires_at,
    expires_at: s_expires_at,
    revoked_at: s_revoked_at,
    ip: s_ip,
    user_agent: s_user_agent,
    amr: s_amr,
    connection_id: s_connection_id,
  };
  if (touch && now.getTime() - session.last_seen_at.getTime() > TOUCH_EVERY_MS) {
    const idle = session.remember_me ? SESSION_LIFETIMES.rememberIdleMs : SESSION_LIFETIMES.idleMs;
    await ctx.db
      .updateTable('sessions')
      .set({ last_seen_at: now, idle_expires_at: new Date(now.getTime() + idle) })
      .where('id', '=', session.id)
      .execute();
  }
  return { session, user };
}

export async function signOut(ctx: AppContext, session: Session, actor: Actor): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    await trx.updateTable('sessions').set({ revoked_at: ctx.clock.now() }).where('id', '=', session.id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.user.logout',
      actor,
      target: { type: 'user', id: session.user_id },
      details: { session_id: session.id },
    });
  });
}

/** Signs out the session a token opens, if it is still live (signing out of the hosted pages). */
export async function revokeSessionByToken(ctx: AppContext, token: string, actor: Actor): Promise<void> {
  const active = await sessionFromToken(ctx, token, false);
  if (active) await signOut(ctx, active.session, { ...actor, type: 'user', id: active.user.id });
}

/** A session that has just done MFA (a step-up) records the factors, so it is not challenged again. */
export async function recordSessionAmr(ctx: AppContext, sessionId: string, amr: string[]): Promise<void> {
  await ctx.db.updateTable('sessions').set({ amr }).where('id', '=', sessionId).execute();
}

export async function revokeUserSessions(db: Kysely<Database>, now: Date, userId: string): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
}
