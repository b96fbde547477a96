import type { FastifyRequest } from 'fastify';
import type { Actor } from '../audit/record.js';
import type { AppContext } from '../context.js';
import { AppError } from '../errors.js';
import type { ActiveSession, Caller } from '../ports/authenticator.js';

export const SESSION_COOKIE = 'gatehouse_session';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireSession`. */
    signedIn?: ActiveSession;
    /** Set by `requireAccess` (src/directory/permissions/guard.ts). */
    caller?: Caller;
  }
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const [scheme, token] = header.split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) throw new AppError('unauthorized', 'Use "Authorization: Bearer <token>"');
  return token;
}

/** Session tokens are opaque (`ghs_…`); access tokens are JWTs: three dot-separated parts. */
export const looksLikeJwt = (token: string): boolean => token.split('.').length === 3;

export function actorOf(request: FastifyRequest): Actor {
  const client = request.caller?.client;
  if (client) {
    return { type: 'client', id: client.client_id, ip: request.ip, userAgent: request.headers['user-agent']?.slice(0, 512) ?? null };
  }
  const userId = request.caller?.user?.id ?? request.signedIn?.user.id ?? null;
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
    const active = token ? await ctx.authenticator.session(token) : undefined;
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
    if (!active.amr.includes('mfa') && (await ctx.authenticator.hasSecondFactor(user.id))) {
      throw new AppError('mfa_step_required', 'Sign in with your second factor first: this session proved only the password');
    }
  };
}
