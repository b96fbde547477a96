import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { constantTimeEqual } from '../crypto/secrets.js';
import { AppError } from '../errors.js';
import { advanceFlow, assertFlowBrowser, readFlow } from '../flows/flows.js';
import { actorOf, SESSION_COOKIE } from '../http/guards.js';
import type { Oidc } from '../oidc/index.js';
import type { Proved } from '../passwordless/finish.js';
import { setSessionCookie } from '../sessions/cookie.js';
import { openSession, sessionFromToken } from '../sessions/sessions.js';
import { FLOW_COOKIE, type Form, safeReturn } from './flow-kit.js';
import { continueSignIn, type PageKit } from './interaction-mfa.js';

/**
 * The end of a browser passwordless flow (decision 160): a session with the flow's `amr`,
 * then the authorization request goes on through the same step as after a password
 * (continueSignIn: the MFA policy, then the application). Going back through
 * /interaction/<uid> instead would show the password form again to an application that
 * asked for a fresh sign-in (prompt=login, max_age): its interaction keeps that reason.
 */
export async function finishPasswordless(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, proved: Proved) {
  const { user, flow, amr } = proved;
  const { token, session } = await openSession(ctx, user, { amr }, actorOf(request));
  setSessionCookie(ctx, reply, token, session);
  const returnTo = safeReturn(flow.return_to);
  if (!returnTo.startsWith('/interaction/')) return reply.redirect(returnTo, 303);
  await advanceFlow(ctx.db, ctx, flow, { state: 'returning', data: { ...(flow.data as object), session_id: session.id } });
  return reply.redirect(`${returnTo}/passwordless/finish?flow=${encodeURIComponent(flow.id)}`, 303);
}

/** GET /interaction/:uid/passwordless/finish?flow=…: only the browser, session and interaction of that flow go on. */
export function passwordlessFinishRoute(app: FastifyInstance, ctx: AppContext, oidc: Oidc): void {
  // The interaction pages' CSRF token (as in routes.ts), for any page continueSignIn shows.
  const csrfFor = (uid: string) => createHmac('sha256', ctx.masterKey).update(`csrf\0${uid}`).digest('base64url');
  const kit: PageKit = {
    csrfFor,
    checkCsrf(uid: string, form: Form) {
      if (!constantTimeEqual(Buffer.from(form.csrf ?? ''), Buffer.from(csrfFor(uid)))) {
        throw new AppError('csrf_failed', 'This form has expired; go back and try again');
      }
    },
    go: (reply, to) => reply.redirect(to, 303),
  };

  app.get<{ Params: { uid: string }; Querystring: { flow?: string } }>(
    '/interaction/:uid/passwordless/finish',
    { schema: { hide: true } },
    async (request, reply) => {
      const it = await oidc.interaction(request.raw, reply.raw);
      const flow = await readFlow(ctx.db, ctx, request.query.flow ?? '', 'passwordless');
      assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
      const token = request.cookies[SESSION_COOKIE];
      const active = token ? await sessionFromToken(ctx, token) : undefined;
      const sessionId = (flow.data as { session_id?: string }).session_id;
      if (flow.state !== 'returning' || flow.return_to !== `/interaction/${it.uid}` || !active || active.session.id !== sessionId) {
        throw new AppError('flow_state', 'This sign-in has finished or belongs to another request; start again');
      }
      await advanceFlow(ctx.db, ctx, flow, { state: 'done' });
      if (it.prompt !== 'login') return kit.go(reply, `/interaction/${it.uid}`);
      return continueSignIn(ctx, oidc, kit, request, reply, it, active);
    },
  );
}
