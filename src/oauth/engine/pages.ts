import type { Kysely } from 'kysely';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { devicePage, errorPage, logoutPage, type PageContext } from '../../flows/sign-in/pages.js';
import type { AppContext } from '../../platform/context.js';
import type { Database } from '../../platform/db/schema.js';
import { pickLocale, translator } from '../../platform/i18n/index.js';
import type { Branding } from '../../platform/web/html.js';
import { ENGINE_HEADERS, newNonce, PAGE_HEADERS, scriptPageHeaders } from '../../platform/web/html.js';
import { gatehouseClient } from './clients.js';

/** The branding of the tenant that owns an application (docs/architecture.md#domain-model), for its hosted pages (`db`: a transaction's, inside one). */
export async function brandingOf(
  ctx: AppContext,
  tenantId: string | undefined,
  db: Kysely<Database> = ctx.db,
): Promise<Branding | undefined> {
  if (!tenantId) return undefined;
  const tenant = await db.selectFrom('tenants').select(['name', 'branding']).where('id', '=', tenantId).executeTakeFirst();
  if (!tenant) return undefined;
  return { display_name: tenant.name, ...(tenant.branding as Branding) };
}

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
  const branding = await brandingOf(ctx, client ? gatehouseClient(client).tenantId : undefined);
  const uiLocales = koa.oidc?.params?.ui_locales;
  const lang = pickLocale({
    uiLocales: typeof uiLocales === 'string' ? uiLocales : (koa.query?.ui_locales as string | undefined),
    acceptLanguage: koa.get('accept-language') || null,
  });
  koa.set(headers);
  koa.body = render({ lang, t: translator(lang), ...(branding && { branding }) });
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
export function renderProtocolError(ctx: AppContext, koa: KoaContextWithOIDC, out: { error: string; error_description?: string }) {
  return send(ctx, koa, (page) =>
    errorPage({
      ...page,
      title: page.t('error.protocol_title'),
      message: page.lang === 'en' && out.error_description ? out.error_description : page.t('error.protocol_invalid'),
      code: out.error,
    }),
  );
}
