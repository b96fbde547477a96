import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../../platform/context.js';
import { connectionById } from './connections.js';
import { strategyOf } from './strategies.js';

/**
 * Auth0's `/v2/logout?federated` (docs/federation.md#signing-out-at-the-provider, decisions
 * 456–458): after Gatehouse has signed the browser out, it goes on to the end-session
 * endpoint of the provider the session signed in through, which sends it back to
 * `/login/logout-callback`; from there to where the engine would have sent it (the
 * application's registered return URI, or the signed-out page). The place to go on to
 * travels in the provider's `state`, MACed under the master key and short-lived: the
 * callback redirects only to a place the engine chose, never to one a request names.
 */

export const LOGOUT_CALLBACK_PATH = '/login/logout-callback';

/** How long the provider may take to send the browser back (a confirmation page there included). */
export const FEDERATED_LOGOUT_TTL_MS = 15 * 60_000;

const PURPOSE = 'federated-logout-v1';

function mac(ctx: AppContext, payload: string): Buffer {
  return createHmac('sha256', ctx.masterKey).update(`${PURPOSE}\0${payload}`, 'utf8').digest();
}

/** The `state` that carries `continueTo` through the provider. */
export function logoutState(ctx: AppContext, continueTo: string): string {
  const payload = Buffer.from(JSON.stringify({ to: continueTo, exp: ctx.clock.now().getTime() + FEDERATED_LOGOUT_TTL_MS })).toString(
    'base64url',
  );
  return `${payload}.${mac(ctx, payload).toString('base64url')}`;
}

/** Where a `state` made by `logoutState` goes on to; undefined if it is not ours, altered, or expired. */
export function logoutContinuation(ctx: AppContext, state: string): string | undefined {
  const [payload, tag, extra] = state.split('.');
  if (!payload || !tag || extra !== undefined) return undefined;
  const given = Buffer.from(tag, 'base64url');
  const expected = mac(ctx, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const { to, exp } = (parsed ?? {}) as { to?: unknown; exp?: unknown };
  if (typeof to !== 'string' || typeof exp !== 'number' || exp <= ctx.clock.now().getTime()) return undefined;
  return to;
}

/**
 * Where to send a browser whose session signed in through `connectionId` so that the
 * provider ends its session too, then comes back and goes on to `continueTo`; undefined
 * when the connection is gone or its provider has no end-session endpoint (OIDC discovery's
 * `end_session_endpoint`; OAuth 2, the social presets without one, SAML and LDAP: none).
 * A provider that cannot be reached is logged and skipped: the Gatehouse sign-out stands.
 */
export async function upstreamLogoutUrl(ctx: AppContext, connectionId: string, continueTo: string): Promise<string | undefined> {
  const connection = await connectionById(ctx, connectionId);
  const strategy = connection && strategyOf(connection);
  if (!connection || strategy?.kind !== 'redirect' || !strategy.logoutUrl) return undefined;
  try {
    return await strategy.logoutUrl(ctx, connection, {
      postLogoutRedirectUri: `${ctx.config.issuer}${LOGOUT_CALLBACK_PATH}`,
      state: logoutState(ctx, continueTo),
    });
  } catch (error) {
    ctx.log.warn({ connection_id: connection.id, err: (error as Error).message }, 'The provider of a federated sign-out is unavailable');
    return undefined;
  }
}
