import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../../platform/context.js';
import { dependencyFailure } from '../../platform/dependency-failure.js';
import { pickLocale, translator } from '../../platform/i18n/index.js';
import { PAGE_HEADERS } from '../../platform/web/html.js';
import { errorPage } from '../../platform/web/pages.js';

/** How long a client waits before it tries again (RFC 9110 Retry-After), as the API's 503 says. */
const RETRY_AFTER_S = 1;

/**
 * Marks an engine request whose failure is a dependency's (the database restarting), when
 * it is one: the engine's own error handlers answer it as a 500 `server_error`, and
 * `answerUnavailable` turns that into a 503 on the way out. True when marked.
 */
export function markUnavailable(koa: KoaContextWithOIDC, error: unknown): boolean {
  const failed = dependencyFailure(error);
  if (failed) koa.state.unavailable = failed;
  return failed !== undefined;
}

/**
 * The engine's answer when a dependency failed (decision 301): `503` with Retry-After, as
 * RFC 6749's `temporarily_unavailable` for a JSON endpoint, or a "try again" page for a
 * browser (renderProtocolError wrote it). What escaped the engine's handlers (its error
 * page's own read of the tenant's look) is answered here, with an unbranded page. Any other
 * error goes on to the engine's handling, unchanged.
 */
export function answerUnavailable(ctx: AppContext) {
  return async (koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    try {
      await next();
    } catch (error) {
      if (!markUnavailable(koa, error)) throw error;
      ctx.log.warn({ err: error }, 'OAuth engine request failed: a dependency is unavailable');
      koa.body = undefined;
    }
    const failed = koa.state.unavailable as string | undefined;
    if (!failed) return;
    koa.status = 503;
    koa.set('retry-after', String(RETRY_AFTER_S));
    koa.set('cache-control', 'no-store');
    if (koa.response.is('html') && typeof koa.body === 'string') return;
    if (koa.body === undefined && koa.accepts('json', 'html') === 'html') {
      const lang = pickLocale({ uiLocales: undefined, acceptLanguage: koa.get('accept-language') || null });
      const t = translator(lang);
      koa.set(PAGE_HEADERS);
      koa.type = 'html';
      koa.body = errorPage({
        lang,
        t,
        title: t('common.unavailable_title'),
        message: t('common.unavailable'),
        code: 'temporarily_unavailable',
      });
      return;
    }
    koa.type = 'json';
    koa.body = { error: 'temporarily_unavailable', error_description: `${failed} is unavailable right now; try again shortly` };
  };
}
