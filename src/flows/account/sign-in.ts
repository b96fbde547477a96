import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ChallengeOffer, challengeForPage, requireChallenge } from '../../authn/bot-defence/challenge.js';
import { beginStep, completeStep, hasSecondFactor, loadStep } from '../../authn/mfa/sign-in-step.js';
import { setSessionCookie } from '../../authn/sessions/cookie.js';
import { authenticate, openSession } from '../../authn/sessions/sessions.js';
import { brandingOf } from '../../directory/branding/branding.js';
import { homeTenantOf } from '../../directory/users/lookups.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { setRetryAfter } from '../../platform/http/server.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import { cookieOptions } from '../../platform/web/cookies.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
import { PAGE_HEADERS } from '../../platform/web/html.js';
import { challengeWidget, offerIn, pageChallenge, sendChallengePage, solutionOf } from '../kit/challenge-widget.js';
import { pageLook, safeReturn } from '../kit/flow-kit.js';
import { answerStep, type StepFlow, sendStepCode, sessionAfterStep, showStep } from '../sign-in/mfa-flow.js';
import { recoveryCodesPage } from '../sign-in/mfa-pages.js';
import { accountSignInPage } from './pages.js';

/**
 * The account area's own sign-in (/account/sign-in), for a browser that comes to an
 * account page without a session (it returns there afterwards, else to /account): the password, then the user's second factor when
 * they have one. A browser flow of its own, identified by an HttpOnly cookie; its forms
 * carry a CSRF token bound to that flow, and its MFA step is stored like the hosted
 * sign-in's (keyed `account:<flow>`).
 */
export const ACCOUNT_FLOW_COOKIE = 'gatehouse_account_flow';
const FLOW_ID = /^[\w-]{22}$/;
const MFA = '/account/sign-in/mfa';

/** This browser's account flow id, set on first use. */
export function accountFlow(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): string {
  const existing = request.cookies[ACCOUNT_FLOW_COOKIE];
  if (existing && FLOW_ID.test(existing)) return existing;
  const id = randomBytes(16).toString('base64url');
  reply.setCookie(ACCOUNT_FLOW_COOKIE, id, cookieOptions(ctx, '/account'));
  return id;
}

const stepUid = (flow: string) => `account:${flow}`;

/** Where the account sign-in (or its step-up) returns to: the account page the browser was opening (session.ts). */
export const ACCOUNT_RETURN_COOKIE = 'gatehouse_account_return';

/** The remembered account page (cleared), or the account home. */
export function takeReturn(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): string {
  const remembered = request.cookies[ACCOUNT_RETURN_COOKIE];
  if (remembered) reply.clearCookie(ACCOUNT_RETURN_COOKIE, cookieOptions(ctx, '/account'));
  return safeReturn(remembered);
}

/**
 * A session that signed in with the password alone, of a user who has a second factor,
 * proves it before changing factors: the MFA step, raising this session's `amr`.
 */
export async function stepUpAccount(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, active: ActiveSession) {
  const flow = accountFlow(ctx, request, reply);
  await beginStep(ctx, { uid: stepUid(flow), userId: active.user.id, sessionId: active.session.id, need: 'challenge' });
  return reply.redirect(MFA, 303);
}

export function accountSignInRoutes(app: FastifyInstance, ctx: AppContext): void {
  const csrfFor = (flow: string) => csrfToken(ctx, 'account-sign-in', flow);
  /** The account's own sign-in names no application: the system tenant's bot defence applies, as for POST /api/v1/session. */
  const sendSignInPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    flow: string,
    extra: { username?: string; error?: string; challenge?: ChallengeOffer | undefined } = {},
    status = 200,
  ) => {
    const { challenge: offer, ...fields } = extra;
    const look = await pageLook(ctx, request);
    const challenge = pageChallenge(offer ?? (await challengeForPage(ctx, request, { tenantId: null, action: 'signin' })));
    const { t, locale, branding } = look;
    const page = accountSignInPage({
      t,
      lang: locale,
      ...(branding && { branding }),
      action: '/account/sign-in',
      csrf: csrfFor(flow),
      captcha: challengeWidget(look, challenge),
      ...fields,
    });
    return sendChallengePage(reply, page, challenge, status);
  };

  app.get('/account/sign-in', { schema: { hide: true } }, async (request, reply) => {
    const flow = accountFlow(ctx, request, reply);
    return sendSignInPage(request, reply, flow);
  });

  app.post<{ Body: Form }>('/account/sign-in', { schema: { hide: true } }, async (request, reply) => {
    const flow = accountFlow(ctx, request, reply);
    const form = request.body ?? {};
    checkCsrf(ctx, form, 'account-sign-in', flow);
    const { username = '', password = '' } = form;
    try {
      await requireChallenge(ctx, request, { tenantId: null, action: 'signin', solution: solutionOf(form) });
      const user = await authenticate(ctx, { username, password }, actorOf(request));
      if (await hasSecondFactor(ctx, user.id)) {
        await beginStep(ctx, { uid: stepUid(flow), userId: user.id, sessionId: null, need: 'challenge' });
        return reply.redirect(MFA, 303);
      }
      const { token, session } = await openSession(ctx, user, { amr: ['pwd'] }, actorOf(request));
      setSessionCookie(ctx, reply, token, session);
      return reply.redirect(takeReturn(ctx, request, reply), 303);
    } catch (error) {
      const challenge = offerIn(error);
      if (challenge) {
        const { t } = await pageLook(ctx, request);
        const message = t((error as AppError).code === 'challenge_failed' ? 'captcha.failed' : 'captcha.required');
        return sendSignInPage(request, reply, flow, { username, error: message, challenge }, 428);
      }
      if (!(error instanceof AppError) || (error.status !== 401 && error.code !== 'too_many_attempts')) throw error;
      const refused = error.code === 'too_many_attempts';
      if (refused) setRetryAfter(reply, error);
      const { t } = await pageLook(ctx, request);
      const message = t(refused ? 'account.sign_in_too_many' : 'account.sign_in_wrong');
      return sendSignInPage(request, reply, flow, { username, error: message }, refused ? 429 : 401);
    }
  });

  async function current(request: FastifyRequest, reply: FastifyReply) {
    const flowId = accountFlow(ctx, request, reply);
    const step = await loadStep(ctx, stepUid(flowId));
    const flow: StepFlow = {
      action: MFA,
      csrf: csrfFor(flowId),
      branding: undefined,
      actor: { ...actorOf(request), type: 'user', id: step?.userId ?? null },
    };
    if (step) {
      flow.branding = await brandingOf(ctx, (await homeTenantOf(ctx.db, step.userId)) ?? undefined);
    }
    return { flowId, step, flow };
  }

  app.get<{ Querystring: { method?: string } }>(MFA, { schema: { hide: true } }, async (request, reply) => {
    const { step, flow } = await current(request, reply);
    if (!step || step.done) return reply.redirect('/account/sign-in', 303);
    return showStep(ctx, reply, flow, step, { recovery: request.query.method === 'recovery' });
  });

  app.post<{ Body: Form }>(`${MFA}/send`, { schema: { hide: true } }, async (request, reply) => {
    const { flowId, step, flow } = await current(request, reply);
    checkCsrf(ctx, request.body ?? {}, 'account-sign-in', flowId);
    if (!step || step.done) return reply.redirect('/account/sign-in', 303);
    return sendStepCode(ctx, reply, flow, step, request.body ?? {});
  });

  app.post<{ Body: Form }>(MFA, { schema: { hide: true } }, async (request, reply) => {
    const { flowId, step, flow } = await current(request, reply);
    const form = request.body ?? {};
    checkCsrf(ctx, form, 'account-sign-in', flowId);
    if (!step || step.done) return reply.redirect('/account/sign-in', 303);
    const proved = await answerStep(ctx, reply, flow, step, form);
    if (!proved) return reply;
    const amr = await completeStep(ctx, step.uid, proved.methods);
    if (!(await sessionAfterStep(ctx, request, reply, step, amr))) return reply.redirect('/account/sign-in', 303);
    if (proved.codes) {
      return reply
        .headers(PAGE_HEADERS)
        .send(recoveryCodesPage({ branding: flow.branding, codes: proved.codes, href: takeReturn(ctx, request, reply) }));
    }
    return reply.redirect(takeReturn(ctx, request, reply), 303);
  });
}
