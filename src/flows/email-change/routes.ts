import type { FastifyInstance } from 'fastify';
import { userById } from '../../directory/users/lookups.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import type { Form } from '../../platform/web/forms.js';
import { type AccountLook, emailConfirmPage, emailPage } from '../account/area-pages.js';
import { accountSession, errorText, noticeOf } from '../account/session.js';
import { pageLook, sendPage } from '../kit/flow-kit.js';
import { confirmEmailChangeCode, confirmEmailChangeLink, peekEmailChange, pendingEmailChange, startEmailChange } from './email-change.js';

/**
 * /account/email: a new address (with the current password), then the code typed here or
 * the emailed link confirmed on /account/email/confirm (decision 165).
 */
export function accountEmailRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { signedIn, formRoute } = accountSession(ctx);
  const hide = { schema: { hide: true } };

  // Email
  const showEmail = async (look: AccountLook, active: ActiveSession, state: { error?: string; notice?: string; email?: string }) => {
    const pending = await pendingEmailChange(ctx, active.user.id);
    return emailPage(look, active.user, { ...state, ...(pending && { pending: { id: pending.id, email: pending.email ?? '' } }) });
  };

  app.get('/account/email', hide, async (request, reply) => {
    const s = await signedIn(request, reply, { stepUp: true });
    if (!s.active) return s.redirect;
    return sendPage(reply, await showEmail(s.look, s.active, { notice: noticeOf(s.look.t, request.query) }));
  });

  formRoute(
    app,
    '/account/email',
    { stepUp: true },
    async ({ active, actor }, form, reply) => {
      await startEmailChange(ctx, actor, active.user, { email: form.email ?? '', password: form.password ?? '' });
      return reply.redirect('/account/email?notice=email_sent', 303);
    },
    ({ look, active }, form, error) => showEmail(look, active, { error, email: form.email ?? '' }),
  );

  formRoute(
    app,
    '/account/email/code',
    { stepUp: true },
    async ({ active, actor }, form, reply) => {
      await confirmEmailChangeCode(ctx, actor, active.user.id, form.flow ?? '', (form.code ?? '').replace(/\s+/g, ''));
      return reply.redirect('/account/email?notice=email_changed', 303);
    },
    async ({ look, active }, _form, error) => {
      // The page shows the account as it is now (the change may have failed at confirmation).
      const user = await userById(ctx.db, active.user.id);
      return showEmail(look, { ...active, user: user ?? active.user }, { error });
    },
  );

  // The emailed link: a page with a button (mail scanners follow links; they do not submit forms).
  app.get<{ Querystring: { token?: string } }>('/account/email/confirm', hide, async (request, reply) => {
    const token = request.query.token ?? '';
    try {
      const flow = await peekEmailChange(ctx, token);
      const look = await pageLook(ctx, request, { tenantId: flow.tenant_id, userLocale: flow.locale });
      return sendPage(reply, emailConfirmPage(look, { token, email: flow.email ?? '' }));
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const look = await pageLook(ctx, request);
      return sendPage(reply, emailConfirmPage(look, { error: errorText(look.t, error) }), error.status);
    }
  });

  app.post<{ Body: Form }>('/account/email/confirm', hide, async (request, reply) => {
    try {
      const user = await confirmEmailChangeLink(ctx, actorOf(request), request.body?.token ?? '');
      const look = await pageLook(ctx, request, { tenantId: user.home_tenant_id, userLocale: user.locale });
      return sendPage(reply, emailConfirmPage(look, { done: user.email }));
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const look = await pageLook(ctx, request);
      return sendPage(reply, emailConfirmPage(look, { error: errorText(look.t, error) }), error.status);
    }
  });
}
