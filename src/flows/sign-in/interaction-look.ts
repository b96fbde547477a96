import type { FastifyRequest } from 'fastify';
import { userLocale } from '../../directory/users/lookups.js';
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
  return pageLook(ctx, request, {
    tenantId: it?.client.tenantId ?? null,
    uiLocales: it?.uiLocales ?? null,
    userLocale: userId ? await userLocale(ctx.db, userId) : null,
  });
}
