import type { FastifyRequest } from 'fastify';
import type { Interaction } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { type PageLook, pageLook } from '../kit/flow-kit.js';

/**
 * The language and branding of an authorization flow's page: the request's `ui_locales`,
 * then the user's `locale` once the user is known (after the password step), then the
 * browser's Accept-Language; the branding of the application's tenant.
 */
export async function interactionLook(
  ctx: AppContext,
  request: FastifyRequest,
  it: Interaction | undefined,
  userId?: string | null,
): Promise<PageLook> {
  const user = userId ? await ctx.db.selectFrom('users').select('locale').where('id', '=', userId).executeTakeFirst() : undefined;
  return pageLook(ctx, request, {
    tenantId: it?.client.tenantId ?? null,
    uiLocales: it?.uiLocales ?? null,
    userLocale: user?.locale ?? null,
  });
}
