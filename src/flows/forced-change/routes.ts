import type { FastifyInstance } from 'fastify';
import type { Oidc } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { csrfFailed, type Form } from '../../platform/web/forms.js';
import { checkFlowForm, flowCsrf, pageLook, sendPage } from '../kit/flow-kit.js';
import { forcedChangePage, formError } from '../recovery/pages.js';
import { continueSignIn } from '../sign-in/interaction-mfa.js';
import { finishForcedChange, forcedChangeFlow } from './forced-change.js';

const FLOW_ID = /^flw_[0-9a-f]{32}$/;

/**
 * The forced change's form (shown by change-page.ts): its POST sets the new password, then
 * the sign-in goes on (the MFA step included). The form names a stored flow bound to this
 * browser and this interaction.
 */
export function forcedPasswordRoutes(app: FastifyInstance, ctx: AppContext, oidc: Oidc): void {
  app.post<{ Params: { uid: string }; Body: Form }>('/interaction/:uid/password', { schema: { hide: true } }, async (request, reply) => {
    const it = await oidc.interaction(request.raw, reply.raw);
    const form = request.body ?? {};
    if (!FLOW_ID.test(form.flow ?? '')) throw csrfFailed();
    let flow: Awaited<ReturnType<typeof forcedChangeFlow>>;
    try {
      flow = await forcedChangeFlow(ctx, form.flow ?? '');
    } catch (error) {
      // An expired change form: back to the sign-in, which asks for the current password again.
      if (error instanceof AppError && error.code === 'flow_expired') return reply.redirect(`/interaction/${it.uid}`, 303);
      throw error;
    }
    checkFlowForm(ctx, request, flow, form);
    const look = await pageLook(ctx, request, { tenantId: it.client.tenantId });
    try {
      const user = await finishForcedChange(ctx, flow, it.uid, form.password ?? '', actorOf(request));
      return await continueSignIn(ctx, oidc, request, reply, it, { user });
    } catch (error) {
      const message =
        error instanceof AppError && error.code === 'password_unchanged' ? look.t('forced.unchanged') : formError(look, error);
      if (!message || !(error instanceof AppError)) throw error;
      const page = forcedChangePage(look, {
        action: `/interaction/${it.uid}/password`,
        flow: flow.id,
        csrf: flowCsrf(ctx, flow.id),
        email: flow.email ?? '',
        error: message,
      });
      return sendPage(reply, page, error.status);
    }
  });
}
