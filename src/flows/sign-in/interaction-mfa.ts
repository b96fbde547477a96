import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { provesAllowedFactor } from '../../authn/mfa/index.js';
import { completeStep, loadStep, type MfaStep } from '../../authn/mfa/sign-in-step.js';
import { setSessionCookie } from '../../authn/sessions/cookie.js';
import type { Interaction, Oidc } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
import { PAGE_HEADERS } from '../../platform/web/html.js';
import { finishPendingLink } from '../federation/link.js';
import { interactionLook } from './interaction-look.js';
import { answerStep, factorNotAllowed, type StepFlow, sendStepCode, sessionAfterStep, showStep, stepPage } from './mfa-flow.js';
import { recoveryCodesPage } from './mfa-pages.js';
import { allowedFactors, type LoginOutcome, runLogin, type SignedIn } from './steps.js';

/**
 * The login prompt's outcome (steps.ts), rendered: the MFA step's page, or the engine's
 * next step (after the cookie of the session the sign-in opened).
 */
export async function showLoginStep(
  ctx: AppContext,
  oidc: Oidc,
  request: FastifyRequest,
  reply: FastifyReply,
  it: Interaction,
  outcome: LoginOutcome,
) {
  switch (outcome.step) {
    case 'password':
      return reply.redirect(`/interaction/${it.uid}`, 303);
    case 'second_factor':
      return reply.redirect(`/interaction/${it.uid}/mfa`, 303);
    case 'logged_in':
      if (outcome.opened) setSessionCookie(ctx, reply, outcome.opened.token, outcome.opened.session);
      // An identity waiting for this account's proof is linked now that the sign-in is complete (decision 266).
      await finishPendingLink(ctx, it.uid, outcome.userId, actorOf(request));
      return reply.redirect(await oidc.finishLogin(request.raw, reply.raw, outcome.userId, outcome.amr), 303);
  }
}

/** A sign-in proved by something else than the form (a live session, a flow, a forced change) goes on with its next step. */
export async function continueSignIn(
  ctx: AppContext,
  oidc: Oidc,
  request: FastifyRequest,
  reply: FastifyReply,
  it: Interaction,
  signedIn: SignedIn,
) {
  const outcome = await runLogin({ ctx, oidc }, { it, actor: actorOf(request), signedIn });
  return showLoginStep(ctx, oidc, request, reply, it, outcome);
}

/** The MFA step's pages of the hosted sign-in: /interaction/:uid/mfa, …/send, …/continue. */
export function interactionMfaRoutes(app: FastifyInstance, ctx: AppContext, oidc: Oidc): void {
  type Params = { Params: { uid: string }; Body: Form; Querystring: { method?: string } };

  /** The interaction (bound to this browser by the engine's cookie) and its step; without one, back to the sign-in. */
  async function current(request: FastifyRequest, reply: FastifyReply) {
    const it = await oidc.interaction(request.raw, reply.raw);
    const step = it.prompt === 'login' ? await loadStep(ctx, it.uid) : undefined;
    // The user is known from the password step on: their locale counts (after ui_locales).
    const look = await interactionLook(ctx, request, it, step?.userId);
    // Only the factor types every tenant of the sign-in allows count (decision 198).
    const allowed = step && (await allowedFactors(ctx, step.userId, it));
    const flow: StepFlow = {
      ...(allowed && { allowed }),
      action: `/interaction/${it.uid}/mfa`,
      csrf: csrfToken(ctx, 'interaction', it.uid),
      branding: look.branding,
      lang: look.locale,
      t: look.t,
      actor: { ...actorOf(request), type: 'user', id: step?.userId ?? null },
      bot: { tenantId: it.client.tenantId, ip: request.ip },
    };
    return { it, step, flow };
  }

  app.get<Params>('/interaction/:uid/mfa', { schema: { hide: true } }, async (request, reply) => {
    const { it, step, flow } = await current(request, reply);
    if (!step || step.done) return reply.redirect(`/interaction/${it.uid}`, 303);
    return showStep(ctx, reply, flow, step, { recovery: request.query.method === 'recovery' });
  });

  app.post<Params>('/interaction/:uid/mfa', { schema: { hide: true } }, async (request, reply) => {
    const { it, step, flow } = await current(request, reply);
    const form = request.body ?? {};
    checkCsrf(ctx, form, 'interaction', it.uid);
    if (!step || step.done) return reply.redirect(`/interaction/${it.uid}`, 303);
    const proved = await answerStep(ctx, reply, flow, step, form);
    if (!proved) return reply;
    if (flow.allowed && !provesAllowedFactor([...proved.methods, 'mfa'], flow.allowed)) {
      return showStep(ctx, reply, flow, step, { error: factorNotAllowed() });
    }
    const amr = await completeStep(ctx, it.uid, proved.methods);
    if (proved.codes) {
      return reply
        .headers(PAGE_HEADERS)
        .send(recoveryCodesPage({ ...stepPage(flow), action: `${flow.action}/continue`, csrf: flow.csrf, codes: proved.codes }));
    }
    return finish(request, reply, { ...step, amr, done: true });
  });

  app.post<Params>('/interaction/:uid/mfa/send', { schema: { hide: true } }, async (request, reply) => {
    const { it, step, flow } = await current(request, reply);
    checkCsrf(ctx, request.body ?? {}, 'interaction', it.uid);
    if (!step || step.done) return reply.redirect(`/interaction/${it.uid}`, 303);
    return sendStepCode(ctx, reply, flow, step, request.body ?? {});
  });

  /** The finish step: reads what was proved from the stored step, never from the form. */
  app.post<Params>('/interaction/:uid/mfa/continue', { schema: { hide: true } }, async (request, reply) => {
    const { it, step } = await current(request, reply);
    checkCsrf(ctx, request.body ?? {}, 'interaction', it.uid);
    if (!step?.done) throw new AppError('mfa_step_required', 'Finish the two-step verification first');
    return finish(request, reply, step);
  });

  /** Opens the session (or raises the live one's `amr`, for a step-up) and finishes the login. */
  async function finish(request: FastifyRequest, reply: FastifyReply, step: MfaStep) {
    const amr = await sessionAfterStep(ctx, request, reply, step, step.amr);
    if (!amr) throw new AppError('interaction_expired', 'Your session ended; sign in again');
    await finishPendingLink(ctx, step.uid, step.userId, actorOf(request));
    return reply.redirect(await oidc.finishLogin(request.raw, reply.raw, step.userId, amr), 303);
  }
}
