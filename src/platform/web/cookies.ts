import type { Config } from '../config.js';

/**
 * The attributes of every cookie Gatehouse sets or clears (the session, the flow binding,
 * the account area's; docs/security.md#v3-session-management): HttpOnly (no script reads it), SameSite=Lax (no cross-site POST
 * carries it), Secure when the issuer is https; `path` narrows where the browser sends it.
 */
export const cookieOptions = (ctx: { config: Pick<Config, 'issuer'> }, path = '/') =>
  ({ path, httpOnly: true, sameSite: 'lax', secure: ctx.config.issuer.startsWith('https:') }) as const;
