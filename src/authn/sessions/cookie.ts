import type { FastifyReply } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import type { Session } from '../../platform/db/schema.js';
import { SESSION_COOKIE } from '../../platform/http/guards.js';
import { cookieOptions } from '../../platform/web/cookies.js';

/**
 * The session cookie, with the attributes of every cookie (docs/security.md#v3-session-management).
 * A "remember me" session outlives the browser; any other ends with it.
 */
export function setSessionCookie(ctx: AppContext, reply: FastifyReply, token: string, session: Session): void {
  reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions(ctx), ...(session.remember_me && { expires: session.expires_at }) });
}

export function clearSessionCookie(ctx: AppContext, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, cookieOptions(ctx));
}
