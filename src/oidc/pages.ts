import type { Kysely } from 'kysely';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import type { Database } from '../db/schema.js';
import { pickLocale, translator } from '../i18n/index.js';
import type { Branding } from '../ui/html.js';
import { PAGE_HEADERS } from '../ui/html.js';
import { devicePage, errorPage, logoutPage, type PageContext } from '../ui/pages.js';
import { gatehouseClient } from './clients.js';

/** The branding of the tenant that owns an application (DESIGN §3), for its hosted pages (`db`: a transaction's, inside one). */
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
) {
  const client = koa.oidc?.client;
  const branding = await brandingOf(ctx, client ? gatehouseClient(client).tenantId : undefined);
  const uiLocales = koa.oidc?.params?.ui_locales;
  const lang = pickLocale({
    uiLocales: typeof uiLocales === 'string' ? uiLocales : (koa.query?.ui_locales as string | undefined),
    acceptLanguage: koa.get('accept-language') || null,
  });
  koa.set(PAGE_HEADERS);
  koa.body = render({ lang, t: translator(lang), ...(branding && { branding }) });
}

export function renderLogoutPage(ctx: AppContext, koa: KoaContextWithOIDC, options: { step: 'confirm' | 'done'; form?: string }) {
  const clientName = koa.oidc?.client?.clientName;
  return send(ctx, koa, (page) =>
    logoutPage({ ...page, ...(options.step === 'confirm' && { form: options.form }), ...(clientName && { clientName }) }),
  );
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
