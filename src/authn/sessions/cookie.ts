import type { FastifyReply } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import type { Session } from '../../platform/db/schema.js';
import { SESSION_COOKIE } from '../../platform/http/guards.js';

/** The session cookie (docs/security.md#v3-session-management): HttpOnly, SameSite=Lax, Secure when the issuer is https. */
const options = (ctx: AppContext) =>
  ({ path: '/', httpOnly: true, sameSite: 'lax', secure: ctx.config.issuer.startsWith('https:') }) as const;

/** A "remember me" session outlives the browser; any other ends with it. */
export function setSessionCookie(ctx: AppContext, reply: FastifyReply, token: string, session: Session): void {
  reply.setCookie(SESSION_COOKIE, token, { ...options(ctx), ...(session.remember_me && { expires: session.expires_at }) });
}

export function clearSessionCookie(ctx: AppContext, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, options(ctx));
}
