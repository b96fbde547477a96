import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ChallengeOffer, challengeForPage, requireChallenge } from '../../authn/bot-defence/challenge.js';
import type { Oidc } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { setRetryAfter } from '../../platform/http/server.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
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
import { assertFlowBrowser, expiredError } from '../kit/flows.js';
import { codePageFlow, linkFlow, type Proved, proveCode, proveLink } from './finish.js';
import type { PasswordlessFlow } from './flow.js';
import { passwordlessLinkPage, passwordlessMessagePage, passwordlessSentPage, passwordlessStartPage } from './pages.js';
import { allowedMethods, applicationByClientId, startPasswordless } from './start.js';

const UID = /^[\w-]{1,64}$/;
const startOf = (flow: PasswordlessFlow) => (flow.return_to?.startsWith('/interaction/') ? `${flow.return_to}/passwordless` : undefined);
const retryAfterOf = (error: AppError) => (typeof error.details?.retry_after === 'number' ? error.details.retry_after : 60);

/**
 * The hosted passwordless sign-in (decision 160): /passwordless?interaction=<uid> (linked
 * from the sign-in page when the application's tenant allows it), the code page
 * /passwordless/<flow>, and the emailed link's page /passwordless/link. The form that asks
 * for a code lives under /interaction/<uid>/passwordless, where the engine's interaction
 * cookie (scoped to that path) tells which application this browser is signing in to.
 */
export function passwordlessPages(app: FastifyInstance, ctx: AppContext, oidc: Oidc): void {
  /** The start form's CSRF token: bound to the interaction and to this browser's binding cookie. */
  const startCsrf = (uid: string, browser: string) => csrfToken(ctx, 'passwordless-start', uid, browser);

  app.get<{ Querystring: { interaction?: string } }>('/passwordless', { schema: { hide: true } }, async (request, reply) => {
    const uid = request.query.interaction;
    if (typeof uid === 'string' && UID.test(uid)) return reply.redirect(`/interaction/${uid}/passwordless`, 303);
    const look = await pageLook(ctx, request);
    const message = look.t('passwordless.no_interaction');
    return sendPage(reply, passwordlessMessagePage({ look, title: look.t('passwordless.title'), message }), 400);
  });

  /** The interaction this start form is for, its application and the methods its tenant allows. */
  async function starting(request: FastifyRequest, reply: FastifyReply) {
    const it = await oidc.interaction(request.raw, reply.raw);
    const methods = await allowedMethods(ctx, it.client.tenantId);
    const look = await pageLook(ctx, request, { tenantId: it.client.tenantId, uiLocales: it.uiLocales ?? null });
    return { it, methods, look, browser: browserBinding(ctx, request, reply) };
  }

  /** A widget for each of the page's forms (each its own challenge: a solution is spent once), or none. */
  async function captchas(request: FastifyRequest, tenantId: string, first?: ChallengeOffer) {
    const offer = () => challengeForPage(ctx, request, { tenantId, action: 'passwordless' });
    const email = pageChallenge(first ?? (await offer()));
    if (!email) return { widgets: undefined, challenge: undefined };
    const sms = pageChallenge(await offer()) ?? pageChallenge(email.offer);
    // One nonce for the page: the second widget's script carries the first's.
    const shared = sms ? { ...sms, nonce: email.nonce } : undefined;
    return { widgets: (look: PageLook) => ({ email: challengeWidget(look, email), sms: challengeWidget(look, shared) }), challenge: email };
  }

  function disabled(reply: FastifyReply, look: Awaited<ReturnType<typeof pageLook>>, uid: string) {
    const back = { href: `/interaction/${uid}`, label: look.t('common.back_to_sign_in') };
    const page = passwordlessMessagePage({
      look,
      title: look.t('passwordless.disabled_title'),
      message: look.t('passwordless.disabled'),
      back,
    });
    return sendPage(reply, page, 403);
  }

  app.get<{ Params: { uid: string }; Querystring: { expired?: string } }>(
    '/interaction/:uid/passwordless',
    { schema: { hide: true } },
    async (request, reply) => {
      const { it, methods, look, browser } = await starting(request, reply);
      if (it.prompt !== 'login') return reply.redirect(`/interaction/${it.uid}`, 303);
      if (methods.length === 0) return disabled(reply, look, it.uid);
      const { widgets, challenge } = await captchas(request, it.client.tenantId);
      const page = passwordlessStartPage({
        ...(widgets && { captcha: widgets(look) }),
        look,
        action: `/interaction/${it.uid}/passwordless`,
        csrf: startCsrf(it.uid, browser),
        methods,
        passwordHref: `/interaction/${it.uid}`,
        ...(request.query.expired && { notice: look.t('common.flow_expired') }),
      });
      return sendChallengePage(reply, page, challenge);
    },
  );

  app.post<{ Params: { uid: string }; Body: Form }>(
    '/interaction/:uid/passwordless',
    { schema: { hide: true } },
    async (request, reply) => {
      const { it, methods, look, browser } = await starting(request, reply);
      const form = request.body ?? {};
      checkCsrf(ctx, form, 'passwordless-start', it.uid, browser);
      if (it.prompt !== 'login') return reply.redirect(`/interaction/${it.uid}`, 303);
      const method = methods.find((m) => m === form.method);
      if (!method) return disabled(reply, look, it.uid);
      const errorIn = method === 'sms_code' ? 'sms' : 'email';
      const again = async (error: string, status: number, offer?: ChallengeOffer) => {
        const { widgets, challenge } = await captchas(request, it.client.tenantId, offer);
        return sendChallengePage(
          reply,
          passwordlessStartPage({
            ...(widgets && { captcha: widgets(look) }),
            look,
            action: `/interaction/${it.uid}/passwordless`,
            csrf: startCsrf(it.uid, browser),
            methods,
            passwordHref: `/interaction/${it.uid}`,
            login: form.login ?? '',
            error,
            errorIn,
          }),
          challenge,
          status,
        );
      };
      if (!form.login?.trim()) return again(look.t('passwordless.missing_login'), 400);
      try {
        await requireChallenge(ctx, request, { tenantId: it.client.tenantId, action: 'passwordless', solution: solutionOf(form) });
        const flow = await startPasswordless(
          ctx,
          {
            application: await applicationByClientId(ctx, it.client.clientId),
            method,
            login: form.login.slice(0, 320),
            channel: 'browser',
            browser,
            returnTo: `/interaction/${it.uid}`,
            locale: look.locale,
          },
          actorOf(request),
        );
        return reply.redirect(`/passwordless/${flow.id}`, 303);
      } catch (error) {
        const challenge = offerIn(error);
        if (challenge)
          return again(
            look.t(error instanceof AppError && error.code === 'challenge_failed' ? 'captcha.failed' : 'captcha.required'),
            428,
            challenge,
          );
        if (!(error instanceof AppError) || !['too_many_attempts', 'resend_too_soon', 'sms_cap_reached'].includes(error.code)) throw error;
        setRetryAfter(reply, error);
        return again(look.t('passwordless.too_many_sends', { minutes: Math.ceil(retryAfterOf(error) / 60) }), 429);
      }
    },
  );

  /** The link's page: one button. A link opened in another browser than the one that asked says so (decision 162). */
  app.get<{ Querystring: { token?: string } }>('/passwordless/link', { schema: { hide: true } }, async (request, reply) => {
    const token = request.query.token ?? '';
    let flow: PasswordlessFlow;
    try {
      flow = await linkFlow(ctx, token);
    } catch (error) {
      return linkRefused(request, reply, error);
    }
    const look = await pageLook(ctx, request, { tenantId: flow.tenant_id, uiLocales: flow.locale });
    if (!sameBrowser(request, flow)) return wrongBrowser(reply, look);
    return sendPage(reply, passwordlessLinkPage({ look, action: '/passwordless/link', csrf: flowCsrf(ctx, flow.id), token }));
  });

  app.post<{ Body: Form }>('/passwordless/link', { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    let proved: Proved;
    let other: PasswordlessFlow | undefined;
    try {
      proved = await proveLink(ctx, form.token ?? '', actorOf(request), (flow) => {
        if (!sameBrowser(request, flow)) {
          other = flow;
          throw new AppError('link_wrong_browser', 'Open this link in the browser where you asked for it');
        }
        checkFlowForm(ctx, request, flow, form);
      });
    } catch (error) {
      if (other) return wrongBrowser(reply, await pageLook(ctx, request, { tenantId: other.tenant_id, uiLocales: other.locale }));
      return linkRefused(request, reply, error);
    }
    return signInAndReturn(ctx, reply, proved.user, { flow: proved.flow, amr: proved.amr }, actorOf(request));
  });

  function sameBrowser(request: FastifyRequest, flow: PasswordlessFlow): boolean {
    try {
      assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
      return true;
    } catch {
      return false;
    }
  }

  function wrongBrowser(reply: FastifyReply, look: Awaited<ReturnType<typeof pageLook>>) {
    const page = passwordlessMessagePage({
      look,
      title: look.t('passwordless.wrong_browser_title'),
      message: look.t('passwordless.wrong_browser'),
    });
    return sendPage(reply, page, 403);
  }

  async function linkRefused(request: FastifyRequest, reply: FastifyReply, error: unknown) {
    if (!(error instanceof AppError) || (error.code !== 'link_invalid' && error.code !== 'link_expired')) throw error;
    const look = await pageLook(ctx, request);
    const message = look.t(error.code === 'link_expired' ? 'common.link_expired' : 'common.link_invalid');
    return sendPage(reply, passwordlessMessagePage({ look, title: look.t('passwordless.link_title'), message }), error.status);
  }

  /** The flow of the code page, or where to go instead (an expired flow: a fresh start form saying so). */
  async function codeFlow(request: FastifyRequest, reply: FastifyReply, id: string) {
    const { flow, expired } = await codePageFlow(ctx, id);
    if (!expired) return { flow, look: await pageLook(ctx, request, { tenantId: flow.tenant_id, uiLocales: flow.locale }) };
    const start = startOf(flow);
    if (start) return { redirect: reply.redirect(`${start}?expired=1`, 303) };
    throw expiredError(flow);
  }

  app.get<{ Params: { flow: string } }>('/passwordless/:flow', { schema: { hide: true } }, async (request, reply) => {
    const found = await codeFlow(request, reply, request.params.flow);
    if (!found.flow) return found.redirect;
    const { flow, look } = found;
    assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
    if (flow.state !== 'sent') return reply.redirect(flow.return_to ?? '/account', 303);
    const startAgain = startOf(flow);
    return sendPage(
      reply,
      passwordlessSentPage({
        look,
        method: flow.data.method,
        action: `/passwordless/${flow.id}`,
        csrf: flowCsrf(ctx, flow.id),
        ...(startAgain && { startAgain }),
      }),
    );
  });

  app.post<{ Params: { flow: string }; Body: Form }>('/passwordless/:flow', { schema: { hide: true } }, async (request, reply) => {
    const found = await codeFlow(request, reply, request.params.flow);
    if (!found.flow) return found.redirect;
    const { flow, look } = found;
    const form = request.body ?? {};
    try {
      const proved = await proveCode(ctx, flow.id, (form.code ?? '').replace(/\s+/g, ''), actorOf(request), (f) =>
        checkFlowForm(ctx, request, f, form),
      );
      return await signInAndReturn(ctx, reply, proved.user, { flow: proved.flow, amr: proved.amr }, actorOf(request));
    } catch (error) {
      if (!(error instanceof AppError) || (error.code !== 'invalid_code' && error.code !== 'too_many_attempts')) throw error;
      const refused = error.code === 'too_many_attempts';
      if (refused) setRetryAfter(reply, error);
      const startAgain = startOf(flow);
      const page = passwordlessSentPage({
        look,
        method: flow.data.method,
        action: `/passwordless/${flow.id}`,
        csrf: flowCsrf(ctx, flow.id),
        error: refused ? look.t('passwordless.too_many_attempts', { seconds: retryAfterOf(error) }) : look.t('passwordless.wrong_code'),
        ...(startAgain && { startAgain }),
      });
      return sendPage(reply, page, error.status);
    }
  });
}
