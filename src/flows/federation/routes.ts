import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { connectionById } from '../../authn/federation/connections.js';
import { LOGOUT_CALLBACK_PATH, logoutContinuation } from '../../authn/federation/logout.js';
import { FederationError } from '../../authn/federation/strategy.js';
import type { Oidc } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf, SESSION_COOKIE } from '../../platform/http/guards.js';
import { setRetryAfter } from '../../platform/http/server.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
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
import { assertFlowBrowser, openFlow, readFlow } from '../kit/flows.js';
import { interactionLook } from '../sign-in/interaction-look.js';
import { tooManyAttemptsText } from '../sign-in/pages.js';
import { finishAccountLink } from './account-link.js';
import { beginConnection, directoryAction, federationRefusal } from './begin.js';
import { callbackFlow, verifyAnswer } from './callback.js';
import { completeSignIn } from './complete.js';
import { FEDERATION, type FederationFlow } from './flow.js';
import { linkTarget, proveLinkPassword } from './link.js';
import { directoryPage, linkPage } from './pages.js';
import { ACCOUNT_LINK_RETURN, provePassword, strategyFor, usableConnection } from './start.js';

/** The largest POSTed answer (form_post, a SAML Response) the callback reads. */
const ANSWER_LIMIT = 1024 * 1024;

const uidOf = (flow: FederationFlow) => /^\/interaction\/([\w-]+)$/.exec(flow.return_to ?? '')?.[1];
/** Where a refusal page's back link goes: the interaction's sign-in page, or the account page a link started from. */
const backOf = (flow: FederationFlow) => {
  const uid = uidOf(flow);
  if (uid) return { back: `/interaction/${uid}` };
  return flow.data.account ? { back: ACCOUNT_LINK_RETURN } : {};
};

/**
 * The hosted pages of a sign-in through a connection (docs/federation.md#sign-in):
 *
 * - POST /interaction/:uid/connection/:name: a button of the sign-in page (its CSRF token
 *   bound to the interaction) → the provider, or a directory connection's form;
 * - POST /interaction/:uid/connection/:name/login: that form;
 * - GET|POST /login/callback: every redirect connection's answer (POST: form_post and the
 *   SAML ACS, `?connection=NAME`);
 * - GET /login/callback/continue?flow=: where a POSTed answer goes on (below);
 * - GET|POST /login/link/:flow: an existing account's password before a link;
 * - GET /interaction/:uid/connection-cancelled?flow=: the person cancelled at the provider,
 *   so the application gets access_denied;
 * - GET /login/logout-callback?state=: back from the provider's end-session of a
 *   `/v2/logout?federated`, on to where the sign-out was going.
 *
 * A flow started from the account page (a link, account-link.ts) comes back through the
 * same callback and continue step and ends at /account/identities.
 *
 * A cross-site POST (form_post, SAML) carries no SameSite=Lax cookie, so the flow's browser
 * binding cannot be checked there: the answer is verified and kept in the flow, and the
 * browser is sent with a 303 to /login/callback/continue, a top-level GET that does carry
 * it; nothing signs in before the binding is checked there (login CSRF, decision 265).
 */
export function federationPages(app: FastifyInstance, ctx: AppContext, oidc: Oidc): void {
  const flowLook = (request: FastifyRequest, flow: FederationFlow) =>
    pageLook(ctx, request, { tenantId: flow.tenant_id, uiLocales: flow.locale });

  app.post<{ Params: { uid: string; name: string }; Body: Form }>(
    '/interaction/:uid/connection/:name',
    { schema: { hide: true } },
    async (request, reply) => {
      const it = await oidc.interaction(request.raw, reply.raw);
      checkCsrf(ctx, request.body ?? {}, 'interaction', it.uid);
      if (it.prompt !== 'login') return reply.redirect(`/interaction/${it.uid}`, 303);
      let connection: Awaited<ReturnType<typeof usableConnection>>;
      try {
        connection = await usableConnection(ctx, it.client, request.params.name);
      } catch (error) {
        return federationRefusal(reply, await interactionLook(ctx, request, it), error, { back: `/interaction/${it.uid}` });
      }
      return beginConnection(ctx, request, reply, it, connection);
    },
  );

  app.post<{ Params: { uid: string; name: string }; Body: Form }>(
    '/interaction/:uid/connection/:name/login',
    { schema: { hide: true } },
    async (request, reply) => {
      const it = await oidc.interaction(request.raw, reply.raw);
      const form = request.body ?? {};
      checkCsrf(ctx, form, 'interaction', it.uid);
      if (it.prompt !== 'login') return reply.redirect(`/interaction/${it.uid}`, 303);
      const look = await interactionLook(ctx, request, it);
      const back = `/interaction/${it.uid}`;
      const username = (form.username ?? '').slice(0, 256);
      let flow: FederationFlow;
      let connectionName = request.params.name;
      try {
        const connection = await usableConnection(ctx, it.client, request.params.name);
        connectionName = connection.displayName;
        const strategy = strategyFor(connection);
        if (strategy.kind !== 'password') throw new FederationError('misconfigured', 'Not a password connection');
        const browser = browserBinding(ctx, request, reply);
        const origin = { kind: 'interaction' as const, client: it.client, uid: it.uid };
        const start = { connection, strategy, origin, browser, locale: look.locale };
        flow = await provePassword(ctx, start, { username, password: form.password ?? '' }, actorOf(request));
      } catch (error) {
        if (error instanceof AppError && (error.code === 'invalid_credentials' || error.code === 'too_many_attempts')) {
          const refused = error.code === 'too_many_attempts';
          if (refused) setRetryAfter(reply, error);
          const page = directoryPage({
            look,
            action: directoryAction(it.uid, { name: request.params.name }),
            csrf: csrfToken(ctx, 'interaction', it.uid),
            connection: connectionName,
            username,
            back,
            error: refused ? tooManyAttemptsText(look.t, error.details?.retry_after) : look.t('federation.directory_wrong'),
          });
          return sendPage(reply, page, refused ? 429 : 401);
        }
        return federationRefusal(reply, look, error, { connection: connectionName, back });
      }
      return afterProvider(request, reply, flow, look);
    },
  );

  /** The provider's parameters, as strings (a repeated parameter is no answer of a provider: its first value). */
  const paramsOf = (raw: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
      const first = Array.isArray(value) ? value[0] : value;
      if (typeof first === 'string') out[key] = first;
    }
    return out;
  };

  /** Checks the answer; `sameBrowser`: the binding can be checked now (a GET), before the answer is spent. */
  async function receive(request: FastifyRequest, reply: FastifyReply, params: Record<string, string>, sameBrowser: boolean) {
    const named =
      typeof (request.query as Record<string, unknown>).connection === 'string'
        ? ((request.query as Record<string, string>).connection as string)
        : undefined;
    let look = await pageLook(ctx, request);
    let found: Awaited<ReturnType<typeof callbackFlow>>;
    try {
      found = await callbackFlow(ctx, params, named);
      look = await flowLook(request, found.flow);
      if (sameBrowser) assertFlowBrowser(found.flow, request.cookies[FLOW_COOKIE]);
    } catch (error) {
      return federationRefusal(reply, look, error, {});
    }
    const { flow, connection } = found;
    const uid = uidOf(flow);
    try {
      const verified = await verifyAnswer(ctx, found, params, actorOf(request));
      if (!sameBrowser) return reply.redirect(`/login/callback/continue?flow=${encodeURIComponent(verified.id)}`, 303);
      return await afterProvider(request, reply, verified, look);
    } catch (error) {
      if (error instanceof FederationError && error.code === 'cancelled' && uid) {
        return reply.redirect(`/interaction/${uid}/connection-cancelled?flow=${encodeURIComponent(flow.id)}`, 303);
      }
      return federationRefusal(reply, look, error, { connection: connection.displayName, ...backOf(flow) });
    }
  }

  app.get('/login/callback', { schema: { hide: true } }, async (request, reply) => receive(request, reply, paramsOf(request.query), true));
  // A SAML Response with many groups, or encrypted, outgrows the hosted forms' 64 KiB.
  app.post<{ Body: Form }>('/login/callback', { schema: { hide: true }, bodyLimit: ANSWER_LIMIT }, async (request, reply) =>
    receive(request, reply, paramsOf(request.body), false),
  );

  /**
   * Back from the provider's end-session (`/v2/logout?federated`, decision 458): on to the
   * place the engine chose, carried in `state` under the master key's MAC; never a place a
   * request names. A provider that drops `state` leaves the browser at the signed-out page.
   */
  app.get<{ Querystring: { state?: string } }>(LOGOUT_CALLBACK_PATH, { schema: { hide: true } }, async (request, reply) => {
    const state = request.query.state;
    if (typeof state !== 'string' || state === '') return reply.redirect('/v2/logout/success', 303);
    const to = logoutContinuation(ctx, state);
    if (!to) {
      return federationRefusal(
        reply,
        await pageLook(ctx, request),
        new AppError('federation_state_invalid', 'This sign-out link is not valid'),
        {},
      );
    }
    return reply.redirect(to, 303);
  });

  app.get<{ Querystring: { flow?: string } }>('/login/callback/continue', { schema: { hide: true } }, async (request, reply) => {
    let look = await pageLook(ctx, request);
    let flow: FederationFlow;
    try {
      flow = await readFlow(ctx.db, ctx, FEDERATION, String(request.query.flow ?? ''));
      look = await flowLook(request, flow);
      assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
      if (flow.state !== 'verified') throw new AppError('flow_state', 'This sign-in has moved on; start again');
    } catch (error) {
      return federationRefusal(reply, look, error, {});
    }
    return afterProvider(request, reply, flow, look);
  });

  /** A verified flow (its browser checked): signed in, a link to prove, or a refusal. */
  async function afterProvider(request: FastifyRequest, reply: FastifyReply, flow: FederationFlow, look: PageLook) {
    const back = backOf(flow);
    const connection = await connectionById(ctx, flow.data.connection_id);
    if (!connection) return federationRefusal(reply, look, new AppError('federation_state_invalid', 'The connection is gone'), back);
    if (flow.data.account) {
      try {
        await finishAccountLink(ctx, flow, connection, request.cookies[SESSION_COOKIE], actorOf(request));
      } catch (error) {
        return federationRefusal(reply, look, error, { connection: connection.displayName, ...back });
      }
      return reply.redirect(`${ACCOUNT_LINK_RETURN}?notice=identity_linked`, 303);
    }
    const done = await completeSignIn(ctx, flow, connection, actorOf(request));
    switch (done.kind) {
      case 'signed_in':
        return signInAndReturn(ctx, reply, done.user, { flow, amr: done.amr, connectionId: connection.id }, actorOf(request));
      case 'link_required':
        return reply.redirect(`/login/link/${encodeURIComponent(done.flow.id)}`, 303);
      case 'refused':
        return federationRefusal(reply, look, done.code, { connection: connection.displayName, ...back });
    }
  }

  /** The link page's flow: this browser's, waiting for the proof. */
  async function linking(request: FastifyRequest, id: string) {
    const flow = await readFlow(ctx.db, ctx, FEDERATION, id);
    assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
    const user = await linkTarget(ctx, flow);
    const connection = await connectionById(ctx, flow.data.connection_id);
    if (!connection) throw new AppError('federation_state_invalid', 'The connection is gone');
    return { flow, user, connection, look: await flowLook(request, flow) };
  }

  const showLink = (reply: FastifyReply, found: Awaited<ReturnType<typeof linking>>, error?: string, status = 200) =>
    sendPage(
      reply,
      linkPage({
        look: found.look,
        action: `/login/link/${found.flow.id}`,
        csrf: flowCsrf(ctx, found.flow.id),
        email: found.user.email,
        connection: found.connection.displayName,
        ...(error && { error }),
      }),
      status,
    );

  app.get<{ Params: { flow: string } }>('/login/link/:flow', { schema: { hide: true } }, async (request, reply) => {
    let found: Awaited<ReturnType<typeof linking>>;
    try {
      found = await linking(request, request.params.flow);
    } catch (error) {
      return federationRefusal(reply, await pageLook(ctx, request), error, {});
    }
    return showLink(reply, found);
  });

  app.post<{ Params: { flow: string }; Body: Form }>('/login/link/:flow', { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    let found: Awaited<ReturnType<typeof linking>>;
    try {
      found = await linking(request, request.params.flow);
      checkFlowForm(ctx, request, found.flow, form);
    } catch (error) {
      return federationRefusal(reply, await pageLook(ctx, request), error, {});
    }
    try {
      const { flow, user } = await proveLinkPassword(ctx, found.flow, form.password ?? '', actorOf(request));
      // The identity is written when the sign-in ends, after the account's second factor (link.ts).
      return await signInAndReturn(
        ctx,
        reply,
        user,
        { flow, amr: ['pwd'], secondFactor: true, connectionId: found.connection.id },
        actorOf(request),
      );
    } catch (error) {
      if (!(error instanceof AppError) || (error.code !== 'invalid_credentials' && error.code !== 'too_many_attempts')) throw error;
      const refused = error.code === 'too_many_attempts';
      if (refused) setRetryAfter(reply, error);
      const text = refused ? tooManyAttemptsText(found.look.t, error.details?.retry_after) : found.look.t('federation.link_wrong');
      return showLink(reply, found, text, refused ? 429 : 401);
    }
  });

  /** The person cancelled at the provider: the application gets access_denied (its own browser and interaction only). */
  app.get<{ Params: { uid: string }; Querystring: { flow?: string } }>(
    '/interaction/:uid/connection-cancelled',
    { schema: { hide: true } },
    async (request, reply) => {
      const it = await oidc.interaction(request.raw, reply.raw);
      const { flow } = await openFlow(ctx.db, ctx, FEDERATION, String(request.query.flow ?? ''));
      assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
      if (flow.state !== 'cancelled' || flow.return_to !== `/interaction/${it.uid}`) {
        return federationRefusal(reply, await interactionLook(ctx, request, it), 'federation_state_invalid', {});
      }
      return reply.redirect(await oidc.deny(request.raw, reply.raw), 303);
    },
  );
}
