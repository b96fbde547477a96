import type { KoaContextWithOIDC } from 'oidc-provider';
import { brandingOf } from '../../directory/branding/branding.js';
import type { AppContext } from '../../platform/context.js';
import { dependencyFailure } from '../../platform/dependency-failure.js';
import { pickLocale, translator } from '../../platform/i18n/index.js';
import { ENGINE_HEADERS, html, newNonce, PAGE_HEADERS, rich, scriptPageHeaders, trusted, withTexts } from '../../platform/web/html.js';
import { errorBox, errorPage, framed, type PageContext, wordsOf } from '../../platform/web/pages.js';
import { gatehouseClient } from './clients.js';
import { markUnavailable } from './unavailable.js';

/**
 * A page the protocol engine renders (sign-out, device flow, protocol errors): in the
 * language of the request's `ui_locales` when it has one, else the browser's
 * Accept-Language; branded for the application's tenant.
 */
async function send(
  ctx: AppContext,
  koa: KoaContextWithOIDC,
  render: (page: PageContext & { t: ReturnType<typeof translator> }) => string,
  headers: Record<string, string> = PAGE_HEADERS,
) {
  const client = koa.oidc?.client;
  // The tenant's look is read from the database, which may be what failed: then the plain look.
  const branding = await brandingOf(ctx, client ? gatehouseClient(client).tenantId : undefined).catch(() => undefined);
  const uiLocales = koa.oidc?.params?.ui_locales;
  const lang = pickLocale({
    uiLocales: typeof uiLocales === 'string' ? uiLocales : (koa.query?.ui_locales as string | undefined),
    acceptLanguage: koa.get('accept-language') || null,
  });
  koa.set(headers);
  koa.body = render({ lang, t: withTexts(translator(lang), branding, lang), ...(branding && { branding }) });
}

/** The sign-out page: a confirmation (`form`: the engine's, with its xsrf token), pressed at once when `auto` (decision 206), or the end. */
export function renderLogoutPage(
  ctx: AppContext,
  koa: KoaContextWithOIDC,
  options: { step: 'confirm'; form: string; auto: boolean } | { step: 'done' },
) {
  const clientName = koa.oidc?.client?.clientName;
  const nonce = options.step === 'confirm' && options.auto ? newNonce() : undefined;
  return send(
    ctx,
    koa,
    (page) =>
      logoutPage({
        ...page,
        ...(options.step === 'confirm' && { form: options.form }),
        ...(clientName && { clientName }),
        ...(nonce && { autoSubmitNonce: nonce }),
      }),
    nonce ? scriptPageHeaders(nonce) : PAGE_HEADERS,
  );
}

/**
 * Every answer of the engine starts with our pages' security headers (decision 207): the
 * pages it writes itself (auto-submitting forms) keep them, ours replace them with their own.
 */
export async function engineHeaders(koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  koa.set(ENGINE_HEADERS);
  await next();
  if (koa.response.is('html')) koa.set('cache-control', 'no-store');
}

export function renderDevicePage(
  ctx: AppContext,
  koa: KoaContextWithOIDC,
  options: { step: 'input' | 'confirm' | 'success'; form?: string; clientName?: string; userCode?: string; error?: unknown },
) {
  return send(ctx, koa, (page) =>
    devicePage({
      ...page,
      step: options.step,
      ...(options.form && { form: options.form }),
      ...(options.clientName && { clientName: options.clientName }),
      ...(options.userCode && { userCode: options.userCode }),
      ...(options.error ? { error: page.t('device.invalid') } : {}),
    }),
  );
}

/**
 * Errors that must not go back to the application (an unknown client, a redirect URI
 * that is not registered): a page of ours, never a redirect.
 */
export function renderProtocolError(
  ctx: AppContext,
  koa: KoaContextWithOIDC,
  out: { error: string; error_description?: string },
  error?: unknown,
) {
  // A dependency that failed (decision 301): "try again" with 503 and Retry-After (unavailable.ts), not "invalid".
  if (dependencyFailure(error)) {
    markUnavailable(koa, error);
    return send(ctx, koa, (page) =>
      errorPage({
        ...page,
        title: page.t('common.unavailable_title'),
        message: page.t('common.unavailable'),
        code: 'temporarily_unavailable',
      }),
    );
  }
  return send(ctx, koa, (page) =>
    errorPage({
      ...page,
      title: page.t('error.protocol_title'),
      message: page.lang === 'en' && out.error_description ? out.error_description : page.t('error.protocol_invalid'),
      code: out.error,
    }),
  );
}

/**
 * The sign-out page: a confirmation, or (`autoSubmitNonce`: a sign-out that needs no click,
 * decision 206) the same page pressing its own button, with a script this response's CSP
 * nonce allows.
 */
export function logoutPage(ctx: PageContext & { form?: string; clientName?: string; autoSubmitNonce?: string }): string {
  const { t } = wordsOf(ctx);
  if (!ctx.form) {
    return framed(ctx, t('logout.done_title'), html`<h1>${t('logout.done_heading')}</h1><p>${t('logout.close')}</p>`);
  }
  return framed(
    ctx,
    t('logout.title'),
    html`<h1>${t('logout.heading')}</h1>
<p>${ctx.clientName ? rich(t('logout.client_asks'), { client: html`<strong>${ctx.clientName}</strong>` }) : t('logout.ask')}</p>
${trusted(ctx.form)}
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="sign-out" autofocus>${t('logout.submit')}</button>
<button type="submit" form="op.logoutForm" class="secondary">${t('logout.stay')}</button>
${ctx.autoSubmitNonce ? html`<script nonce="${ctx.autoSubmitNonce}">document.getElementById('sign-out').click()</script>` : ''}`,
  );
}

/** The device flow's pages (RFC 8628): the code to type, the confirmation, the end. */
export function devicePage(
  ctx: PageContext & { step: 'input' | 'confirm' | 'success'; form?: string; clientName?: string; userCode?: string; error?: string },
): string {
  const { t } = wordsOf(ctx);
  if (ctx.step === 'success') {
    return framed(ctx, t('device.success_title'), html`<h1>${t('device.success_heading')}</h1><p>${t('device.success')}</p>`);
  }
  if (ctx.step === 'confirm') {
    return framed(
      ctx,
      t('device.confirm_title'),
      html`<h1>${t('device.confirm_heading')}</h1>
<p>${rich(t('device.confirm_text'), { client: html`<strong>${ctx.clientName}</strong>` })}</p>
<p><code style="font-size:1.5rem">${ctx.userCode}</code></p>
${trusted(ctx.form ?? '')}
<button type="submit" form="op.deviceConfirmForm" autofocus>${t('common.continue')}</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" class="secondary">${t('common.cancel')}</button>`,
    );
  }
  return framed(
    ctx,
    t('device.input_title'),
    html`<h1>${t('device.input_title')}</h1>
${errorBox(ctx.error)}
${trusted(ctx.form ?? '')}
<label for="user_code">${t('device.code_label')}</label>
<input type="text" id="user_code" name="user_code" form="op.deviceInputForm" autocomplete="off" autocapitalize="characters" required autofocus>
<button type="submit" form="op.deviceInputForm">${t('common.continue')}</button>`,
  );
}
