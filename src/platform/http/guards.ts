import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasSecondFactor } from '../../authn/mfa/sign-in-step.js';
import { type ActiveSession, sessionFromToken } from '../../authn/sessions/sessions.js';
import { type Access, resolveScope, type Scope } from '../../directory/permissions/effective.js';
import { looksLikeJwt } from '../../oauth/tokens/access-tokens.js';
import { type Caller, callerFromAccessToken } from '../../oauth/tokens/callers.js';
import type { Actor } from '../audit/record.js';
import type { AppContext } from '../context.js';
import { AppError } from '../errors.js';

export const SESSION_COOKIE = 'gatehouse_session';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireSession`. */
    signedIn?: ActiveSession;
    /** Set by `requireAccess`. */
    caller?: Caller;
    scope?: Scope;
  }
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const [scheme, token] = header.split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) throw new AppError('unauthorized', 'Use "Authorization: Bearer <token>"');
  return token;
}

export function actorOf(request: FastifyRequest): Actor {
  const userId = request.caller?.user.id ?? request.signedIn?.user.id ?? null;
  return {
    type: userId ? 'user' : 'anonymous',
    id: userId,
    ip: request.ip,
    userAgent: request.headers['user-agent']?.slice(0, 512) ?? null,
  };
}

/**
 * A live session, by session token (bearer) or the session cookie. An access token is
 * refused here: it is handed to other services, and must not mint tokens for the user's
 * other organizations or act on the account for the length of the session.
 */
export function requireSession(ctx: AppContext) {
  return async (request: FastifyRequest) => {
    const token = bearerToken(request) ?? request.cookies[SESSION_COOKIE];
    if (token && looksLikeJwt(token)) {
      throw new AppError('invalid_token', 'This route takes the session token from POST /api/v1/session, not an access token');
    }
    const active = token ? await sessionFromToken(ctx, token) : undefined;
    if (!active) throw new AppError('unauthorized', 'Sign in first: POST /api/v1/session');
    request.signedIn = active;
  };
}

/**
 * A live session that proved the user's second factor, for what changes the account's
 * credentials (factors, recovery codes, the password): a password-only session, opened
 * where MFA was off, must not add a factor or mint recovery codes for a tenant that
 * requires MFA. A user without a factor passes (enrolling the first one).
 */
export function requireMfaSession(ctx: AppContext) {
  const session = requireSession(ctx);
  return async (request: FastifyRequest) => {
    await session(request);
    const { session: active, user } = request.signedIn!;
    if (!active.amr.includes('mfa') && (await hasSecondFactor(ctx, user.id))) {
      throw new AppError('mfa_step_required', 'Sign in with your second factor first: this session proved only the password');
    }
  };
}

/**
 * The admin API guard: an access token for a tenant, whose holder's fresh effective
 * permissions grant `access`. The scope it sets is all a handler may act in.
 */
export function requireAccess(ctx: AppContext, access: Access) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) throw new AppError('unauthorized', 'An access token is required: POST /api/v1/token');
    if (!looksLikeJwt(token)) {
      throw new AppError('invalid_token', 'This route takes an access token for an organization (POST /api/v1/token), not a session token');
    }
    const caller = await callerFromAccessToken(ctx, token);
    const scope = resolveScope(caller.held, caller.tenant.id, caller.tenant.is_system, access, caller.user.id);
    if (!scope) throw new AppError('forbidden', 'You do not have permission to do this', { required: access.tenant ?? access.system });
    request.caller = caller;
    request.scope = scope;
  };
}

/** The scope a guarded handler acts in. */
export function scopeOf(request: FastifyRequest): Scope {
  if (!request.scope) throw new Error('Route has no access guard');
  return request.scope;
}
