import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { applicableMfa, provesAllowedFactor } from '../../authn/mfa/index.js';
import { beginStep, completeStep, loadStep, type MfaStep, signInNeed } from '../../authn/mfa/sign-in-step.js';
import { setSessionCookie } from '../../authn/sessions/cookie.js';
import { openSession } from '../../authn/sessions/sessions.js';
import type { Interaction, Oidc } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import type { Session, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
import { PAGE_HEADERS } from '../../platform/web/html.js';
import { interactionLook } from './interaction-look.js';
import { answerStep, factorNotAllowed, type StepFlow, sendStepCode, sessionAfterStep, showStep, stepPage } from './mfa-flow.js';
import { recoveryCodesPage } from './mfa-pages.js';

/**
 * After the password (or with a live session): finish the login when nothing more is
 * needed, else start the MFA step of this interaction. Until it is done no session is
 * opened (or, for a step-up, the session's `amr` is not raised), so nothing can skip it.
 */
export async function continueSignIn(
  ctx: AppContext,
  oidc: Oidc,
  request: FastifyRequest,
  reply: FastifyReply,
  it: Interaction,
  signedIn: { user: User; session?: Session; amr?: string[] },
) {
  const { user, session } = signedIn;
  // How the user proved who they are so far: the live session's, or this sign-in's first step (default: the password).
  const first = signedIn.amr ?? ['pwd'];
  const need = await signInNeed(ctx, user, it.mfaTarget, { amr: session?.amr ?? first, acrValues: it.acrValues });
  if (need === 'none') {
    const opened = session ?? (await openFirstStepSession(ctx, request, reply, user, first));
    return reply.redirect(await oidc.finishLogin(request.raw, reply.raw, user.id, opened.amr), 303);
  }
  await beginStep(ctx, { uid: it.uid, userId: user.id, sessionId: session?.id ?? null, need, ...(!session && { firstAmr: first }) });
  return reply.redirect(`/interaction/${it.uid}/mfa`, 303);
}

async function openFirstStepSession(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, user: User, amr: string[]) {
  const { token, session } = await openSession(ctx, user, { amr }, actorOf(request));
  setSessionCookie(ctx, reply, token, session);
  return session;
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
    const user = step && (await ctx.db.selectFrom('users').select('home_tenant_id').where('id', '=', step.userId).executeTakeFirst());
    const allowed = user && (await applicableMfa(ctx, user, it.mfaTarget)).factors;
    const flow: StepFlow = {
      ...(allowed && { allowed }),
      action: `/interaction/${it.uid}/mfa`,
      csrf: csrfToken(ctx, 'interaction', it.uid),
      branding: look.branding,
      lang: look.locale,
      t: look.t,
      actor: { ...actorOf(request), type: 'user', id: step?.userId ?? null },
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
    return reply.redirect(await oidc.finishLogin(request.raw, reply.raw, step.userId, amr), 303);
  }
}
