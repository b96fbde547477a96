import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ChallengeOffer, challengeForPage, requireChallenge } from '../../authn/bot-defence/challenge.js';
import { mayOpenSession } from '../../authn/mfa/sign-in-step.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { isEmailAddress } from '../../platform/mail/address.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
import { challengeWidget, offerIn, pageChallenge, sendChallengePage, solutionOf } from '../kit/challenge-widget.js';
import {
  boundBrowser,
  browserBinding,
  checkLinkForm,
  linkCsrf,
  type PageLook,
  pageLook,
  returnFromQuery,
  safeReturn,
  sendPage,
  signInAndReturn,
} from '../kit/flow-kit.js';
import { formError, messagePage, recoveryRequestPage, resetPage } from './pages.js';
import { interactionTenant, peekRecovery, requestRecovery, resetPassword } from './recovery.js';

const TOKEN = /^[\w.-]{1,200}$/;

/**
 * The hosted recovery pages: /recovery (ask for a link; the same answer for every
 * address) and /recovery/reset (the emailed link: a form first, spent only by its POST,
 * since mail scanners open links).
 */
export function recoveryPageRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** The request form's CSRF token: bound to this browser's binding cookie (no flow exists yet). */
  const requestCsrf = (binding: string) => csrfToken(ctx, 'recovery-request', binding);
  const uidOf = (returnTo: string | null) => returnTo?.slice('/interaction/'.length) ?? null;
  /** Back to the authorization request the page came from, else the account's own sign-in. */
  const backTo = (returnTo: string | null) => (safeReturn(returnTo) === '/account' ? '/account/sign-in' : safeReturn(returnTo));

  app.get('/recovery', { schema: { hide: true } }, async (request, reply) => {
    const returnTo = returnFromQuery(request);
    const tenantId = await interactionTenant(ctx, uidOf(returnTo));
    const look = await pageLook(ctx, request, { tenantId });
    const binding = browserBinding(ctx, request, reply);
    const challenge = pageChallenge(await challengeForPage(ctx, request, { tenantId, action: 'recovery' }));
    const page = recoveryRequestPage(look, {
      action: request.url,
      csrf: requestCsrf(binding),
      back: backTo(returnTo),
      captcha: challengeWidget(look, challenge),
    });
    return sendChallengePage(reply, page, challenge);
  });

  app.post<{ Body: Form }>('/recovery', { schema: { hide: true } }, async (request, reply) => {
    const returnTo = returnFromQuery(request);
    const tenantId = await interactionTenant(ctx, uidOf(returnTo));
    const look = await pageLook(ctx, request, { tenantId });
    const form = request.body ?? {};
    checkCsrf(ctx, form, 'recovery-request', boundBrowser(request));
    const email = (form.email ?? '').trim().slice(0, 320);
    const again = async (error: string, status: number, offer?: ChallengeOffer) => {
      const challenge = pageChallenge(offer ?? (await challengeForPage(ctx, request, { tenantId, action: 'recovery' })));
      const page = recoveryRequestPage(look, {
        action: request.url,
        csrf: form.csrf ?? '',
        back: backTo(returnTo),
        email,
        error,
        captcha: challengeWidget(look, challenge),
      });
      return sendChallengePage(reply, page, challenge, status);
    };
    if (!isEmailAddress(email)) return again(look.t('recovery.email_invalid'), 400);
    try {
      await requireChallenge(ctx, request, { tenantId, action: 'recovery', solution: solutionOf(form) });
    } catch (error) {
      const offer = offerIn(error);
      if (!offer) throw error;
      return again(look.t((error as AppError).code === 'challenge_failed' ? 'captcha.failed' : 'captcha.required'), 428, offer);
    }
    await requestRecovery(ctx, { email, tenantId, returnTo, locale: look.locale }, actorOf(request));
    return sendPage(
      reply,
      messagePage(look, {
        title: look.t('recovery.sent_title'),
        message: look.t('recovery.sent', { email }),
        link: {
          href: safeReturn(returnTo) === '/account' ? '/account/sign-in' : safeReturn(returnTo),
          label: look.t('common.back_to_sign_in'),
        },
      }),
    );
  });

  /** A dead link's page: what went wrong, and a way to ask for a new one. */
  const deadLink = (reply: FastifyReply, look: PageLook, error: unknown) => {
    if (!(error instanceof AppError) || !['link_invalid', 'link_expired', 'account_disabled'].includes(error.code)) throw error;
    const message = error.code === 'link_expired' ? look.t('common.link_expired') : look.t('common.link_invalid');
    const page = messagePage(look, {
      title: look.t('recovery.title'),
      message,
      alert: true,
      link: { href: '/recovery', label: look.t('recovery.request_new') },
    });
    return sendPage(reply, page, error.status);
  };

  app.get<{ Querystring: { token?: string } }>('/recovery/reset', { schema: { hide: true } }, async (request, reply) => {
    const token = String(request.query.token ?? '');
    const fallback = await pageLook(ctx, request);
    if (!TOKEN.test(token)) return deadLink(reply, fallback, new AppError('link_invalid', 'Not a link'));
    try {
      const { flow, user } = await peekRecovery(ctx, token);
      const look = await lookOf(request, flow.tenant_id, flow.locale);
      const csrf = linkCsrf(ctx, flow.id, browserBinding(ctx, request, reply));
      return sendPage(reply, resetPage(look, { action: '/recovery/reset', token, csrf, email: user.email }));
    } catch (error) {
      return deadLink(reply, fallback, error);
    }
  });

  app.post<{ Body: Form }>('/recovery/reset', { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    const token = form.token ?? '';
    const fallback = await pageLook(ctx, request);
    if (!TOKEN.test(token)) return deadLink(reply, fallback, new AppError('link_invalid', 'Not a link'));
    let opened: Awaited<ReturnType<typeof peekRecovery>>;
    try {
      opened = await peekRecovery(ctx, token);
    } catch (error) {
      return deadLink(reply, fallback, error);
    }
    const { flow, user } = opened;
    // The link's token is the authority; the CSRF token (bound to its flow and to the browser that opened
    // the link) keeps out a form another site posts with its own link (login CSRF).
    checkLinkForm(ctx, request, flow.id, form);
    const look = await lookOf(request, flow.tenant_id, flow.locale);
    let reset: Awaited<ReturnType<typeof resetPassword>>;
    try {
      reset = await resetPassword(ctx, token, form.password ?? '', actorOf(request));
    } catch (error) {
      const message = formError(look, error);
      if (!message || !(error instanceof AppError)) throw error;
      if (error.code.startsWith('link_')) return deadLink(reply, look, error);
      const page = resetPage(look, { action: '/recovery/reset', token, csrf: form.csrf ?? '', email: user.email, error: message });
      return sendPage(reply, page, error.status);
    }
    if (await mayOpenSession(ctx, reset.user)) {
      return signInAndReturn(ctx, reply, reset.user, { flow: reset.flow, amr: ['pwd'] }, actorOf(request));
    }
    // A second factor stays a second factor: sign in again with the new password and the factor (decision 156).
    return sendPage(
      reply,
      messagePage(look, {
        title: look.t('recovery.done_title'),
        message: look.t('recovery.done_sign_in'),
        link: { href: backTo(flow.return_to), label: look.t('recovery.continue_sign_in') },
      }),
    );
  });

  const lookOf = (request: FastifyRequest, tenantId: string | null, locale: string | null) =>
    pageLook(ctx, request, { tenantId, ...(locale && { uiLocales: locale }) });
}
