import type { FastifyReply, FastifyRequest } from 'fastify';
import { findUserByLogin } from '../../directory/users/users.js';
import type { AppContext } from '../../platform/context.js';
import { browserBinding, flowCsrf, pageLook, sendPage } from '../kit/flow-kit.js';
import { notVerifiedPage } from './pages.js';
import { resendFlow } from './verification.js';

/**
 * The hosted sign-in refused an unverified self-registered user (after the right password):
 * a page that offers a new verification email, through a flow bound to this browser.
 */
export async function emailNotVerifiedPage(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  options: { username: string; returnTo: string; tenantId: string; uiLocales?: string },
) {
  const user = await findUserByLogin(ctx.db, options.username);
  const look = await pageLook(ctx, request, {
    tenantId: options.tenantId,
    uiLocales: options.uiLocales ?? null,
    userLocale: user?.locale ?? null,
  });
  const flow = await resendFlow(ctx, user, {
    tenantId: options.tenantId,
    browser: browserBinding(ctx, request, reply),
    returnTo: options.returnTo,
    locale: look.locale,
  });
  return sendPage(reply, notVerifiedPage(look, { resendAction: `/verify/${flow.id}/resend`, csrf: flowCsrf(ctx, flow.id) }), 403);
}
