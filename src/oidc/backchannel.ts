import type { KoaContextWithOIDC } from 'oidc-provider';
import { type LoggedOutGrant, queueBackchannelLogouts } from '../backchannel/queue.js';
import type { OidcContext } from './lookups.js';

/**
 * Back-channel logout for the engine's own sign-out (/v2/logout): the applications the
 * browser session signed out of are told through our queue (../backchannel/), with
 * retries, rather than by the engine, which would send once, inside the logout request
 * (decision 124). With "sign out of all" every application of the session is told, with
 * its `sid`; otherwise the one that asked. The engine's events cannot wait, so the notices
 * are queued just after.
 */
export function queueEndSessionLogouts(ctx: OidcContext, koa: KoaContextWithOIDC): void {
  const session = koa.oidc.session;
  const userId = session?.accountId;
  if (!session || !userId) return;
  const authorizations = (session.authorizations ?? {}) as Record<string, { sid?: string }>;
  const ended: LoggedOutGrant[] = koa.oidc.params?.logout
    ? Object.entries(authorizations).map(([clientId, a]) => ({ clientId, userId, sid: a.sid ?? null }))
    : koa.oidc.client
      ? [{ clientId: koa.oidc.client.clientId, userId, sid: null }]
      : [];
  queueBackchannelLogouts(ctx.db, ctx, ended).catch((error) => ctx.log.error({ err: error }, 'Queueing back-channel logouts failed'));
}
