import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { type ChallengeOffer, challengeForPage, requireChallenge } from '../../authn/bot-defence/challenge.js';
import { connectionForEmail } from '../../authn/federation/connections.js';
import { sessionFromToken } from '../../authn/sessions/sessions.js';
import type { Interaction, Oidc } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf, SESSION_COOKIE } from '../../platform/http/guards.js';
import { setRetryAfter } from '../../platform/http/server.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
import { errorPage, type PageContext } from '../../platform/web/pages.js';
import { beginConnection, beginNamedConnection, connectionButtons } from '../federation/begin.js';
import { showForcedChange } from '../forced-change/change-page.js';
import { challengeWidget, offerIn, type PageChallenge, pageChallenge, sendChallengePage, solutionOf } from '../kit/challenge-widget.js';
import { type PageLook, pageOf, returningUser } from '../kit/flow-kit.js';
import { emailNotVerifiedPage } from '../signup/not-verified.js';
import { interactionLook } from './interaction-look.js';
import { continueSignIn, interactionMfaRoutes, showLoginStep } from './interaction-mfa.js';
import { consentPage, organizationPage, signInPage, tooManyAttemptsText } from './pages.js';
import { signInLinks } from './sign-in-links.js';
import { assertConsentOrganization, runConsent, runLogin } from './steps.js';

/**
 * The hosted sign-in pages of the authorization flow: sign-in, organization picker and
 * consent. Each step reads the engine's interaction, so a page shows only what the flow
 * is waiting for; every form carries a CSRF token bound to its interaction (which is
 * itself bound to this browser by the engine's cookie). Registered in the hosted pages'
 * scope (src/flows/kit/hosted-pages.ts), which parses the forms and shows errors as pages.
 */
export const signInPages =
  (ctx: AppContext, oidc: Oidc): FastifyPluginAsync =>
  async (app) => {
    const csrfFor = (uid: string) => csrfToken(ctx, 'interaction', uid);

    /** A page in the interaction's language (with the user's locale once the password step is done) and branding. */
    const show = async (
      request: FastifyRequest,
      reply: FastifyReply,
      it: Interaction | undefined,
      body: (page: PageContext & { t: PageLook['t']; locale: string }) => string,
      status = 200,
      challenge?: PageChallenge,
    ) => {
      const look = await interactionLook(ctx, request, it, it?.accountId);
      return sendChallengePage(reply.status(status), body({ ...pageOf(look), t: look.t, locale: look.locale }), challenge, status);
    };

    const go = (reply: FastifyReply, to: string) => reply.redirect(to, 303);
    interactionMfaRoutes(app, ctx, oidc);

    /** The consent prompt (steps.ts): the organization page, a refusal, the consent page, or straight back. */
    async function afterLogin(request: FastifyRequest, reply: FastifyReply, it: Interaction, chosen?: string) {
      const next = await runConsent({ ctx, oidc }, it, chosen);
      switch (next.step) {
        case 'refused':
          return show(
            request,
            reply,
            it,
            (p) =>
              errorPage({
                ...p,
                title: p.t('org.not_member_title'),
                message: p.t(next.reason === 'not_member' ? 'org.not_member' : 'org.not_tenant_member'),
                code: 'access_denied',
              }),
            403,
          );
        case 'organization':
          return show(request, reply, it, (p) =>
            organizationPage({
              ...p,
              action: `/interaction/${it.uid}/organization`,
              csrf: csrfFor(it.uid),
              clientName: it.client.name,
              organizations: next.organizations,
            }),
          );
        case 'consent':
          return show(request, reply, it, (p) =>
            consentPage({
              ...p,
              action: `/interaction/${it.uid}/consent`,
              csrf: csrfFor(it.uid),
              clientName: it.client.name,
              scopes: it.missingScopes,
              apiScopes: it.missingApiScopes,
              ...(next.organization && { organization: next.organization }),
            }),
          );
        case 'authorized':
          return go(reply, await oidc.finishConsent(request.raw, reply.raw, next.organization?.id));
      }
    }

    // A self-service flow (sign-up, reset, invitation, passwordless) signed the user in: go on as after a password.
    app.get<{ Params: { uid: string }; Querystring: { flow?: string } }>(
      '/interaction/:uid/finish',
      { schema: { hide: true } },
      async (request, reply) => {
        const it = await oidc.interaction(request.raw, reply.raw);
        if (it.prompt !== 'login') return go(reply, `/interaction/${it.uid}`);
        const proved = await returningUser(ctx, request, it.uid, String(request.query.flow ?? ''));
        return continueSignIn(ctx, oidc, request, reply, it, proved);
      },
    );

    app.get<{ Params: { uid: string }; Querystring: { signin?: string } }>(
      '/interaction/:uid',
      { schema: { hide: true } },
      async (request, reply) => {
        const it = await oidc.interaction(request.raw, reply.raw);
        if (it.prompt === 'login') {
          const token = request.cookies[SESSION_COOKIE];
          const session = token ? await sessionFromToken(ctx, token) : undefined;
          const next = await runLogin({ ctx, oidc }, { it, actor: actorOf(request), session });
          if (next.step !== 'password') return showLoginStep(ctx, oidc, request, reply, it, next);
          // `connection=` / `identity_provider=`: that connection instead of the choice (src/flows/federation/).
          if (it.connection) return beginNamedConnection(ctx, request, reply, it, it.connection);
          // Auth0's `screen_hint=signup`: the sign-up page, when sign-up is open to this application (decision 395).
          if (it.screenHint === 'signup' && !request.query.signin) {
            const { signup } = await signInLinks(ctx, it);
            if (signup) return go(reply, signup);
          }
          return showSignIn(request, reply, it, { ...(it.loginHint && { username: it.loginHint }) });
        }
        return afterLogin(request, reply, it);
      },
    );

    /** The sign-in form, with a button per connection enabled for the application, and the links to the other flows. */
    async function showSignIn(
      request: FastifyRequest,
      reply: FastifyReply,
      it: Interaction,
      form: { username?: string; error?: string; challenge?: ChallengeOffer | undefined },
      status = 200,
    ) {
      const links = await signInLinks(ctx, it);
      const look = await interactionLook(ctx, request, it);
      const connections = await connectionButtons(ctx, it, look.t);
      const { challenge: offer, ...fields } = form;
      const challenge = pageChallenge(offer ?? (await challengeForPage(ctx, request, { tenantId: it.client.tenantId, action: 'signin' })));
      return show(
        request,
        reply,
        it,
        (p) =>
          signInPage({
            ...p,
            action: `/interaction/${it.uid}/login`,
            csrf: csrfFor(it.uid),
            clientName: it.client.name,
            links,
            connections,
            captcha: challengeWidget(p, challenge),
            ...fields,
          }),
        status,
        challenge,
      );
    }

    app.post<{ Params: { uid: string }; Body: Form }>('/interaction/:uid/login', { schema: { hide: true } }, async (request, reply) => {
      const it = await oidc.interaction(request.raw, reply.raw);
      checkCsrf(ctx, request.body ?? {}, 'interaction', it.uid);
      const { username = '', password = '' } = request.body ?? {};
      // Identifier-first: an email of a connection's domain goes to that connection, before any password check.
      const home = it.prompt === 'login' ? await connectionForEmail(ctx, it.client, username.trim()) : undefined;
      if (home) return beginConnection(ctx, request, reply, it, home, { loginHint: username.trim() });
      try {
        await requireChallenge(ctx, request, { tenantId: it.client.tenantId, action: 'signin', solution: solutionOf(request.body ?? {}) });
        const next = await runLogin({ ctx, oidc }, { it, actor: actorOf(request), credentials: { username, password } });
        return await showLoginStep(ctx, oidc, request, reply, it, next);
      } catch (error) {
        if (error instanceof AppError && error.code === 'email_not_verified') {
          const where = { username, returnTo: `/interaction/${it.uid}`, tenantId: it.client.tenantId };
          return emailNotVerifiedPage(ctx, request, reply, { ...where, ...(it.uiLocales && { uiLocales: it.uiLocales }) });
        }
        // A temporary password: the right one, but a new one first (decision 157).
        if (error instanceof AppError && error.code === 'password_change_required') {
          return showForcedChange(ctx, request, reply, it, username);
        }
        // An action refused the sign-in: its reason, on this page.
        if (error instanceof AppError && error.code === 'access_denied') {
          return showSignIn(request, reply, it, { username, error: error.message }, 403);
        }
        const challenge = offerIn(error);
        if (challenge) {
          const { t } = await interactionLook(ctx, request, it);
          const text = t((error as AppError).code === 'challenge_failed' ? 'captcha.failed' : 'captcha.required');
          return showSignIn(request, reply, it, { username, error: text, challenge }, 428);
        }
        if (!(error instanceof AppError) || (error.status !== 401 && error.code !== 'too_many_attempts')) throw error;
        const refused = error.code === 'too_many_attempts';
        if (refused) setRetryAfter(reply, error);
        const look = await interactionLook(ctx, request, it);
        const text = refused ? tooManyAttemptsText(look.t, error.details?.retry_after) : look.t('signin.wrong');
        return showSignIn(request, reply, it, { username, error: text }, refused ? 429 : 401);
      }
    });

    app.post<{ Params: { uid: string }; Body: Form }>(
      '/interaction/:uid/organization',
      { schema: { hide: true } },
      async (request, reply) => {
        const it = await oidc.interaction(request.raw, reply.raw);
        checkCsrf(ctx, request.body ?? {}, 'interaction', it.uid);
        if (it.prompt !== 'consent') return go(reply, `/interaction/${it.uid}`);
        return afterLogin(request, reply, it, request.body?.organization ?? '');
      },
    );

    app.post<{ Params: { uid: string }; Body: Form }>('/interaction/:uid/consent', { schema: { hide: true } }, async (request, reply) => {
      const it = await oidc.interaction(request.raw, reply.raw);
      const form = request.body ?? {};
      checkCsrf(ctx, form, 'interaction', it.uid);
      if (it.prompt !== 'consent') return go(reply, `/interaction/${it.uid}`);
      if (form.decision !== 'allow') return go(reply, await oidc.deny(request.raw, reply.raw));
      if (form.organization) await assertConsentOrganization({ ctx, oidc }, it, form.organization);
      return go(reply, await oidc.finishConsent(request.raw, reply.raw, form.organization || undefined));
    });
  };
