import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { challengeForPage, requireChallenge } from '../../authn/bot-defence/challenge.js';
import { passwordPolicyFor } from '../../authn/passwords/policy.js';
import type { Oidc } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { supportedLocale } from '../../platform/i18n/index.js';
import type { Form } from '../../platform/web/forms.js';
import { challengeWidget, offerIn, pageChallenge, sendChallengePage, solutionOf } from '../kit/challenge-widget.js';
import {
  browserBinding,
  checkFlowForm,
  FLOW_COOKIE,
  flowCsrf,
  type PageLook,
  pageLook,
  sendPage,
  signInAndReturn,
} from '../kit/flow-kit.js';
import { assertFlowBrowser } from '../kit/flows.js';
import type { RegistrationFlow, VerificationFlow } from './flow.js';
import { checkEmailPage, confirmLinkPage, messagePage, signupFormPage, verifiedPage } from './pages.js';
import {
  flowTarget,
  openRegistration,
  renewRegistration,
  type SignupInput,
  type SignupTarget,
  signupTarget,
  startRegistration,
  submitRegistration,
} from './registration.js';
import { peekVerificationLink, resendVerification, verificationFlow, verifyByCode, verifyByLink } from './verification.js';

const lookOf = (ctx: AppContext, request: FastifyRequest, flow: RegistrationFlow | VerificationFlow) =>
  pageLook(ctx, request, { tenantId: flow.tenant_id, ...(flow.locale && { uiLocales: flow.locale }) });

/**
 * The hosted sign-up (/signup?interaction=<uid>, linked from the sign-in page) and email
 * verification pages (/verify/...). Both drive the same domain functions as the JSON API
 * (src/registration/routes.ts).
 */
export function signupRoutes(app: FastifyInstance, ctx: AppContext, oidc: Oidc): void {
  async function showForm(
    request: FastifyRequest,
    reply: FastifyReply,
    flow: RegistrationFlow,
    extra: { error?: AppError; values?: Form; notice?: string } = {},
  ) {
    const look = await lookOf(ctx, request, flow);
    const target = await flowTarget(ctx, flow).catch(() => undefined);
    if (!target) return disabled(reply, look);
    const field = extra.error && (typeof extra.error.details?.field === 'string' ? extra.error.details.field : fieldOf(extra.error.code));
    const error = extra.error && { message: errorText(look, extra.error, target), ...(field && { field }) };
    const { password: _, csrf: __, ...values } = extra.values ?? {};
    const challenge = pageChallenge(
      offerIn(extra.error) ?? (await challengeForPage(ctx, request, { tenantId: target.tenantId, action: 'signup' })),
    );
    const page = signupFormPage(look, {
      captcha: challengeWidget(look, challenge),
      action: `/signup/${flow.id}`,
      csrf: flowCsrf(ctx, flow.id),
      clientName: target.name,
      fields: target.signup.profile_fields.map((name) => ({ name, required: target.signup.required_fields.includes(name) })),
      passwordMin: (await passwordPolicyFor(ctx, target.tenantId)).min_length,
      values,
      ...(error && { error }),
      ...(extra.notice && { notice: extra.notice }),
      // `signin`: the sign-in form even when the request asked for the sign-up page first (screen_hint=signup).
      signInHref: flow.return_to && `${flow.return_to}${flow.return_to.includes('?') ? '&' : '?'}signin=1`,
    });
    return sendChallengePage(reply, page, challenge, extra.error?.status ?? 200);
  }

  const disabled = (reply: FastifyReply, look: PageLook) =>
    sendPage(
      reply,
      messagePage(look, { title: look.t('signup.disabled_title'), message: look.t('signup.disabled'), code: 'signup_disabled' }),
      403,
    );

  /** A registration flow of this browser; an expired one is replaced by a fresh one (shown with a notice). */
  async function registrationOf(
    request: FastifyRequest,
    reply: FastifyReply,
    id: string,
  ): Promise<{ flow: RegistrationFlow; renewed?: boolean }> {
    const { flow, expired } = await openRegistration(ctx, id);
    if (!expired) return { flow };
    assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
    return { flow: await renewRegistration(ctx, flow, browserBinding(ctx, request, reply)), renewed: true };
  }

  app.get<{ Querystring: { interaction?: string } }>('/signup', { schema: { hide: true } }, async (request, reply) => {
    const uid = request.query.interaction ?? '';
    const pending = /^[\w-]{1,64}$/.test(uid) ? await oidc.pendingInteraction(uid) : undefined;
    if (!pending) throw new AppError('interaction_expired', 'This sign-up link has expired; go back to the application and start again');
    let target: SignupTarget;
    try {
      target = await signupTarget(ctx, pending.clientId);
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'signup_disabled') throw error;
      return disabled(reply, await pageLook(ctx, request, { uiLocales: pending.uiLocales ?? null }));
    }
    const look = await pageLook(ctx, request, { tenantId: target.tenantId, uiLocales: pending.uiLocales ?? null });
    const flow = await startRegistration(ctx, target, {
      channel: 'browser',
      browser: browserBinding(ctx, request, reply),
      returnTo: `/interaction/${pending.uid}`,
      locale: look.locale,
    });
    return reply.redirect(`/signup/${flow.id}`, 303);
  });

  app.get<{ Params: { id: string } }>('/signup/:id', { schema: { hide: true } }, async (request, reply) => {
    const { flow, renewed } = await registrationOf(request, reply, request.params.id);
    if (renewed) return reply.redirect(`/signup/${flow.id}`, 303);
    assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
    if (flow.state === 'verify_email' && flow.data.verification_flow !== undefined) {
      return reply.redirect(`/verify/${flow.data.verification_flow}`, 303);
    }
    return showForm(request, reply, flow);
  });

  app.post<{ Params: { id: string }; Body: Form }>('/signup/:id', { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    const { flow, renewed } = await registrationOf(request, reply, request.params.id);
    if (renewed)
      return showForm(request, reply, flow, { values: form, notice: (await lookOf(ctx, request, flow)).t('common.flow_expired') });
    checkFlowForm(ctx, request, flow, form);
    try {
      await requireChallenge(ctx, request, { tenantId: flow.tenant_id, action: 'signup', solution: solutionOf(form) });
      const { verification } = await submitRegistration(ctx, flow, form as unknown as SignupInput, actorOf(request), {
        browser: request.cookies[FLOW_COOKIE] ?? null,
      });
      return reply.redirect(`/verify/${verification.id}`, 303);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500 || error.code === 'csrf_failed' || error.code === 'flow_state') throw error;
      if (error.code === 'signup_disabled') return disabled(reply, await lookOf(ctx, request, flow));
      return showForm(request, reply, flow, { error, values: form });
    }
  });

  async function showCheck(
    request: FastifyRequest,
    reply: FastifyReply,
    flow: VerificationFlow,
    extra: { error?: string; notice?: string; status?: number } = {},
  ) {
    const look = await lookOf(ctx, request, flow);
    const page = checkEmailPage(look, {
      action: `/verify/${flow.id}`,
      resendAction: `/verify/${flow.id}/resend`,
      csrf: flowCsrf(ctx, flow.id),
      email: flow.email ?? '',
      ...extra,
    });
    return sendPage(reply, page, extra.status ?? 200);
  }

  app.get<{ Querystring: { token?: string } }>('/verify', { schema: { hide: true } }, async (request, reply) => {
    const token = String(request.query.token ?? '').slice(0, 200);
    try {
      const flow = await peekVerificationLink(ctx, token);
      return sendPage(reply, confirmLinkPage(await lookOf(ctx, request, flow), { token, email: flow.email ?? '' }));
    } catch (error) {
      return deadLink(request, reply, error);
    }
  });

  async function deadLink(request: FastifyRequest, reply: FastifyReply, error: unknown) {
    if (!(error instanceof AppError) || (error.code !== 'link_invalid' && error.code !== 'link_expired')) throw error;
    const look = await pageLook(ctx, request);
    const message = look.t(error.code === 'link_invalid' ? 'common.link_invalid' : 'common.link_expired');
    return sendPage(reply, messagePage(look, { title: look.t('common.something_went_wrong'), message, code: error.code }), error.status);
  }

  /**
   * After a verification: the browser that signed up (and so proved the password) is signed
   * in and sent back; a resent email's flow, or any other browser, sees "verified".
   */
  async function afterVerified(request: FastifyRequest, reply: FastifyReply, flow: VerificationFlow, user: User) {
    let sameBrowser = flow.channel === 'browser' && flow.data.signs_in === true;
    try {
      assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
    } catch {
      sameBrowser = false;
    }
    if (sameBrowser && user.status === 'active') {
      return signInAndReturn(ctx, reply, user, { flow, amr: ['pwd'] }, actorOf(request));
    }
    return sendPage(reply, verifiedPage(await lookOf(ctx, request, flow)));
  }

  app.post<{ Body: Form }>('/verify/link', { schema: { hide: true } }, async (request, reply) => {
    const token = String(request.body?.token ?? '').slice(0, 200);
    try {
      const { flow, user } = await verifyByLink(ctx, token, actorOf(request));
      return await afterVerified(request, reply, flow, user);
    } catch (error) {
      return deadLink(request, reply, error);
    }
  });

  app.get<{ Params: { id: string }; Querystring: { notice?: string } }>(
    '/verify/:id',
    { schema: { hide: true } },
    async (request, reply) => {
      const flow = await verificationFlow(ctx, request.params.id);
      assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
      const notice = request.query.notice === 'resent' ? (await lookOf(ctx, request, flow)).t('verify.resent') : undefined;
      return showCheck(request, reply, flow, notice ? { notice } : {});
    },
  );

  app.post<{ Params: { id: string }; Body: Form }>('/verify/:id', { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    const flow = await verificationFlow(ctx, request.params.id);
    checkFlowForm(ctx, request, flow, form);
    try {
      const { flow: spent, user } = await verifyByCode(ctx, flow, form.code ?? '', actorOf(request));
      return await afterVerified(request, reply, spent, user);
    } catch (error) {
      if (!(error instanceof AppError) || (error.code !== 'invalid_code' && error.code !== 'too_many_attempts')) throw error;
      const look = await lookOf(ctx, request, flow);
      return showCheck(request, reply, flow, { error: look.t('verify.code_invalid'), status: error.status });
    }
  });

  app.post<{ Params: { id: string }; Body: Form }>('/verify/:id/resend', { schema: { hide: true } }, async (request, reply) => {
    const flow = await verificationFlow(ctx, request.params.id);
    checkFlowForm(ctx, request, flow, request.body ?? {});
    const next = await resendVerification(ctx, flow.email ?? '', {
      ...(flow.user_id && { userId: flow.user_id }),
      channel: 'browser',
      browser: request.cookies[FLOW_COOKIE] ?? null,
      applicationId: flow.application_id,
      tenantId: flow.tenant_id,
      returnTo: flow.return_to,
      locale: supportedLocale(flow.locale) ?? 'en',
      actor: actorOf(request),
    });
    return reply.redirect(`/verify/${next.id}?notice=resent`, 303);
  });
}

const fieldOf = (code: string) => (code.startsWith('password_') ? 'password' : code === 'username_taken' ? 'username' : undefined);

/** A refusal of the sign-up form in the page's language (the API answers with the error's own message). */
function errorText(look: PageLook, error: AppError, target: SignupTarget): string {
  const field = typeof error.details?.field === 'string' ? error.details.field : '';
  const label = field && field !== 'email' && field !== 'password' ? look.t(`signup.field.${field}` as never) : field;
  switch (error.code) {
    case 'invalid_email':
      return look.t('signup.error.invalid_email');
    case 'challenge_required':
      return look.t('captcha.required');
    case 'challenge_failed':
      return look.t('captcha.failed');
    case 'missing_field':
      return look.t('signup.error.missing_field', { field: field === 'password' ? look.t('common.password') : label });
    case 'invalid_field':
      return look.t('signup.error.invalid_field', { field: label });
    case 'password_too_short':
    case 'password_too_long':
    case 'password_too_common':
    case 'password_contains_user_info':
    case 'password_breached':
    case 'username_taken':
      return look.t(`signup.error.${error.code}`, { min: String(error.message.match(/\d+/)?.[0] ?? '') });
    default:
      void target;
      return error.message;
  }
}
