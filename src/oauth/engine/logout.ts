import type { KoaContextWithOIDC } from 'oidc-provider';
import { upstreamLogoutUrl } from '../../authn/federation/logout.js';
import { sessionFromToken } from '../../authn/sessions/sessions.js';
import { SESSION_COOKIE } from '../../platform/http/guards.js';
import { html } from '../../platform/web/html.js';
import type { OidcContext } from './lookups.js';
import { renderLogoutPage } from './pages.js';

/**
 * Whether a sign-out (`/v2/logout`) may end the sessions without asking (decision 206):
 * with an `id_token_hint` of the user signed in to this browser (the engine has checked
 * its signature, issuer and audience) and a return URI registered for its application
 * (the engine refuses any other); or, as Auth0 does, with `client_id` and a return URI
 * registered for that application (decision 394). Anything else asks first.
 */
export async function endsWithoutClick(ctx: OidcContext, koa: KoaContextWithOIDC): Promise<boolean> {
  const hint = koa.oidc.entities.IdTokenHint;
  if (typeof koa.oidc.params?.post_logout_redirect_uri !== 'string') return false;
  // Auth0's sign-out (decision 394): `client_id` and a `returnTo` registered for that
  // application (the engine refuses any other before this page) sign out without a question.
  if (!hint) return typeof koa.oidc.params.client_id === 'string' && koa.oidc.client?.clientId === koa.oidc.params.client_id;
  const userId = koa.oidc.session?.accountId ?? (await gatehouseUser(ctx, koa));
  return userId !== undefined && hint.payload.sub === userId;
}

/** The user of the Gatehouse session of this browser, if one lives. */
async function gatehouseUser(ctx: OidcContext, koa: KoaContextWithOIDC): Promise<string | undefined> {
  const token = koa.cookies.get(SESSION_COOKIE);
  return token ? (await sessionFromToken(ctx, token, false))?.user.id : undefined;
}

/**
 * The engine signs out a browser whose engine session holds no user with an
 * auto-submitting form, without asking. Signing out there ends the Gatehouse session of
 * the browser too (provider.ts), so when one lives the browser gets our sign-out page
 * instead, which asks unless `endsWithoutClick` (decision 206). Koa middleware.
 */
export function askBeforeLogout(ctx: OidcContext) {
  return async (koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    if (koa.oidc?.route !== 'end_session' || koa.status !== 200 || koa.oidc.session?.accountId) return;
    const secret = (koa.oidc.session?.state as { secret?: unknown } | undefined)?.secret;
    if (typeof secret !== 'string' || !(await gatehouseUser(ctx, koa))) return;
    const form = html`<form id="op.logoutForm" method="post" action="${koa.oidc.urlFor('end_session_confirm')}"><input type="hidden" name="xsrf" value="${secret}"></form>`;
    await renderLogoutPage(ctx, koa, {
      step: 'confirm',
      form: carryFederated(koa, form.toString()),
      auto: await endsWithoutClick(ctx, koa),
    });
  };
}

/**
 * Auth0's `federated` (a bare `?federated`): the sign-out asks the provider the session
 * signed in through to end its session too (decision 458). It is asked at `/v2/logout`;
 * the confirmation form (the engine's, auto-submitted or pressed) carries it to the
 * engine's confirm step as a hidden field, which the engine ignores.
 */
export function carryFederated(koa: KoaContextWithOIDC, form: string): string {
  if (!askedFederated(koa)) return form;
  return form.replace(/<\/form>$/, '<input type="hidden" name="federated" value="1"></form>');
}

function askedFederated(koa: KoaContextWithOIDC): boolean {
  const body = (koa.oidc?.body ?? {}) as Record<string, unknown>;
  return koa.query.federated !== undefined || body.federated !== undefined;
}

/**
 * The confirm step of a `federated` sign-out: the engine has ended its session and marked
 * the Gatehouse session to end (provider.ts, which ends it after this, on the way out) and
 * answers with a redirect to where the browser goes next. When that session signed in
 * through a connection whose provider has an end-session endpoint, the browser goes there
 * first; the provider sends it back to `/login/logout-callback`, which goes on to the
 * engine's place (src/authn/federation/logout.ts). A session of Gatehouse's own methods,
 * or a provider without one, signs out here alone. Koa middleware, inside the front-channel
 * logout's (its page then goes on to the provider).
 */
export function federatedLogout(ctx: OidcContext) {
  return async (koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    const token = koa.state.gatehouseSessionToEnd as string | undefined;
    const location = koa.response.get('location');
    if (!token || koa.status !== 303 || !location || !askedFederated(koa)) return;
    const connectionId = (await sessionFromToken(ctx, token, false))?.session.connection_id;
    if (!connectionId) return;
    const upstream = await upstreamLogoutUrl(ctx, connectionId, location);
    if (!upstream) return;
    koa.status = 303;
    koa.redirect(upstream);
  };
}
