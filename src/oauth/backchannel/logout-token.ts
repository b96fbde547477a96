import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AppContext } from '../../platform/context.js';

/** OIDC Back-Channel Logout 1.0 §2.4: the one event a logout token carries. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token is meant to be used at once; two minutes cover clock skew. */
export const LOGOUT_TOKEN_TTL_S = 120;

export interface LogoutSubject {
  clientId: string;
  userId: string;
  /** The engine's session id for that application, when the session is known. */
  sid: string | null;
}

/**
 * A logout token (§2.4), signed with our current RS256 key, so a relying party verifies it
 * with the JWKS it already uses for ID tokens. `typ: logout+jwt` (§2.4, and the OpenID
 * Foundation's advice) keeps it from being taken for an ID token; it never has a `nonce`.
 */
export async function logoutToken(ctx: Pick<AppContext, 'config' | 'clock' | 'keys'>, subject: LogoutSubject): Promise<string> {
  const key = await ctx.keys.current('RS256');
  const now = Math.floor(ctx.clock.now().getTime() / 1000);
  return new SignJWT({ events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, ...(subject.sid && { sid: subject.sid }) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'logout+jwt' })
    .setIssuer(ctx.config.tokenIssuer)
    .setAudience(subject.clientId)
    .setSubject(subject.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + LOGOUT_TOKEN_TTL_S)
    .setJti(randomUUID())
    .sign(key.privateKey);
}
