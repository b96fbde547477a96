import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import type { Branding } from '../ui/html.js';
import { PAGE_HEADERS } from '../ui/html.js';
import { devicePage, errorPage, logoutPage } from '../ui/pages.js';
import { gatehouseClient } from './clients.js';

/** The branding of the tenant that owns an application (DESIGN §3), for its hosted pages. */
export async function brandingOf(ctx: AppContext, tenantId: string | undefined): Promise<Branding | undefined> {
  if (!tenantId) return undefined;
  const tenant = await ctx.db.selectFrom('tenants').select(['name', 'branding']).where('id', '=', tenantId).executeTakeFirst();
  if (!tenant) return undefined;
  return { display_name: tenant.name, ...(tenant.branding as Branding) };
}

async function send(ctx: AppContext, koa: KoaContextWithOIDC, render: (branding: Branding | undefined) => string): Promise<void> {
  const client = koa.oidc?.client;
  const branding = await brandingOf(ctx, client ? gatehouseClient(client).tenantId : undefined);
  koa.set(PAGE_HEADERS);
  koa.body = render(branding);
}

export function renderLogoutPage(ctx: AppContext, koa: KoaContextWithOIDC, options: { step: 'confirm' | 'done'; form?: string }) {
  const clientName = koa.oidc?.client?.clientName;
  return send(ctx, koa, (branding) =>
    logoutPage({ branding, ...(options.step === 'confirm' && { form: options.form }), ...(clientName && { clientName }) }),
  );
}

export function renderDevicePage(
  ctx: AppContext,
  koa: KoaContextWithOIDC,
  options: { step: 'input' | 'confirm' | 'success'; form?: string; clientName?: string; userCode?: string; error?: unknown },
) {
  const error = options.error ? 'That code is not valid or has expired. Check the code on your device and try again.' : undefined;
  return send(ctx, koa, (branding) =>
    devicePage({
      branding,
      step: options.step,
      ...(options.form && { form: options.form }),
      ...(options.clientName && { clientName: options.clientName }),
      ...(options.userCode && { userCode: options.userCode }),
      ...(error && { error }),
    }),
  );
}

/**
 * Errors that must not go back to the application (an unknown client, a redirect URI
 * that is not registered): a page of ours, never a redirect.
 */
export function renderProtocolError(ctx: AppContext, koa: KoaContextWithOIDC, out: { error: string; error_description?: string }) {
  return send(ctx, koa, (branding) =>
    errorPage({
      branding,
      title: 'This sign-in request cannot be completed',
      message: out.error_description ?? 'The request was not valid.',
      code: out.error,
    }),
  );
}
