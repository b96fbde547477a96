import type { KoaContextWithOIDC } from 'oidc-provider';
import { pickLocale, translator } from '../../platform/i18n/index.js';
import { html, newNonce, scriptPageHeaders } from '../../platform/web/html.js';
import { framed, wordsOf } from '../../platform/web/pages.js';
import { isPlainOrigin } from '../applications/modern.js';
import { gatehouseClient } from './clients.js';
import type { OidcContext } from './lookups.js';

/** The browser goes on at the latest this long after the sign-out page opened, loaded or not (Front-Channel Logout §4: best effort). */
export const FRONTCHANNEL_WAIT_MS = 3_000;

interface Signed {
  clientId: string;
  sid: string;
}

/**
 * OIDC Front-Channel Logout 1.0 (decision 424; oidc-provider 9 dropped it): at the engine's
 * end-session, the applications this browser signed in to are noted with their `sid`
 * before the engine forgets the session (its event cannot wait).
 */
export function markFrontchannelLogout(koa: KoaContextWithOIDC): void {
  const session = koa.oidc.session;
  if (!koa.oidc.params?.logout || !session?.authorizations) return;
  const signed: Signed[] = [];
  for (const clientId of Object.keys(session.authorizations)) {
    const sid = session.sidFor(clientId);
    if (sid) signed.push({ clientId, sid });
  }
  koa.state.frontchannel = signed;
}

/**
 * The engine answers a sign-out with a redirect (to the application's return URI or our
 * "signed out" page). When an application it ended has a `frontchannel_logout_uri`, the
 * browser gets instead a page that loads each one in a hidden iframe, with `iss` and `sid`
 * (§2), then goes where the engine sent it: when every frame has loaded, or after
 * FRONTCHANNEL_WAIT_MS, or at once with the button (no script needed). The page's CSP
 * allows frames from exactly those origins and its one script by nonce.
 */
export function frontchannelLogout(ctx: OidcContext) {
  return async (koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    const signed = koa.state.frontchannel as Signed[] | undefined;
    const location = koa.response.get('location');
    if (!signed?.length || koa.status !== 303 || !location) return;
    const frames: URL[] = [];
    for (const { clientId, sid } of signed) {
      const client = await koa.oidc.provider.Client.find(clientId).catch(() => undefined);
      const uri = client && gatehouseClient(client).frontchannelLogoutUri;
      // A URI saved before its host was checked (modern.ts) never reaches the page's CSP.
      if (!uri || !isPlainOrigin(uri)) continue;
      const url = new URL(uri);
      url.searchParams.set('iss', ctx.config.issuer);
      url.searchParams.set('sid', sid);
      frames.push(url);
    }
    if (frames.length === 0) return;
    const nonce = newNonce();
    const origins = [...new Set(frames.map((url) => url.origin))].join(' ');
    const lang = pickLocale({ acceptLanguage: koa.get('accept-language') || null });
    const page = { lang, t: translator(lang) };
    const { t } = wordsOf(page);
    koa.status = 200;
    koa.remove('location');
    // The pages' CSP with this page's nonce (one script-src: a second one would be ignored), and its frames.
    const headers = scriptPageHeaders(nonce);
    koa.set({ ...headers, 'content-security-policy': `${headers['content-security-policy']}; frame-src ${origins}` });
    koa.body = framed(
      page,
      t('logout.done_title'),
      html`<h1>${t('logout.done_heading')}</h1>
<p>${t('logout.signing_out_apps')}</p>
${frames.map((url) => html`<iframe class="frontchannel-logout" src="${url.href}" title="" hidden width="0" height="0"></iframe>`)}
<p><a id="continue" class="button" href="${location}">${t('logout.continue')}</a></p>
<script nonce="${nonce}">(function () {
  var frames = document.querySelectorAll('iframe.frontchannel-logout');
  var left = frames.length, gone = false;
  function go() { if (!gone) { gone = true; window.location.assign(document.getElementById('continue').href); } }
  frames.forEach(function (f) { f.addEventListener('load', function () { if (--left === 0) go(); }); });
  setTimeout(go, ${FRONTCHANNEL_WAIT_MS});
})();</script>`,
    );
  };
}
