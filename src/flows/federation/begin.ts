import type { FastifyReply, FastifyRequest } from 'fastify';
import { connectionLabelsForClient } from '../../authn/federation/connections.js';
import { type Connection, FederationError } from '../../authn/federation/strategy.js';
import type { Interaction } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { csrfToken } from '../../platform/web/forms.js';
import { browserBinding, type PageLook, sendPage } from '../kit/flow-kit.js';
import { interactionLook } from '../sign-in/interaction-look.js';
import { directoryPage, refusalPage } from './pages.js';
import { startRedirect, strategyFor, usableConnection } from './start.js';

/**
 * The hosted sign-in's ways into a connection (src/flows/sign-in/routes.ts and this
 * folder's routes.ts): its button, the email's domain, `connection` / `identity_provider`
 * in the authorization request. A redirect connection sends the browser to the provider; a
 * directory connection (`ad`) shows its own username and password form.
 */

/** The buttons of the sign-in page: each connection enabled for the application, a CSRF-protected POST. */
export async function connectionButtons(ctx: AppContext, it: Interaction, t: PageLook['t']) {
  const connections = await connectionLabelsForClient(ctx, it.client);
  return connections.map((c) => ({
    action: `/interaction/${it.uid}/connection/${encodeURIComponent(c.name)}`,
    label: t('federation.continue_with', { name: c.display_name }),
  }));
}

/** The action of a directory connection's form. */
export const directoryAction = (uid: string, connection: Pick<Connection, 'name'>) =>
  `/interaction/${uid}/connection/${encodeURIComponent(connection.name)}/login`;

/** Starts the connection for the interaction: a redirect to the provider, or the directory form. */
export async function beginConnection(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  it: Interaction,
  connection: Connection,
  options: { loginHint?: string } = {},
) {
  const look = await interactionLook(ctx, request, it);
  try {
    const strategy = strategyFor(connection);
    if (strategy.kind === 'password') {
      const page = directoryPage({
        look,
        action: directoryAction(it.uid, connection),
        csrf: csrfToken(ctx, 'interaction', it.uid),
        connection: connection.displayName,
        back: `/interaction/${it.uid}`,
        ...(options.loginHint && { username: options.loginHint }),
      });
      return sendPage(reply, page);
    }
    const loginHint = options.loginHint ?? it.loginHint;
    const { url } = await startRedirect(ctx, {
      connection,
      strategy,
      origin: { kind: 'interaction', client: it.client, uid: it.uid },
      browser: browserBinding(ctx, request, reply),
      locale: look.locale,
      ...(loginHint && { loginHint }),
    });
    return reply.redirect(url, 303);
  } catch (error) {
    return federationRefusal(reply, look, error, { connection: connection.displayName, back: `/interaction/${it.uid}` });
  }
}

/** `connection=` / `identity_provider=` of the request: that connection, if the application may use it; else a refusal page. */
export async function beginNamedConnection(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, it: Interaction, name: string) {
  let connection: Connection;
  try {
    connection = await usableConnection(ctx, it.client, name);
  } catch (error) {
    return federationRefusal(reply, await interactionLook(ctx, request, it), error, {});
  }
  return beginConnection(ctx, request, reply, it, connection);
}

const FEDERATION_TEXT = {
  cancelled: 'federation.cancelled',
  provider_error: 'federation.provider_error',
  invalid_response: 'federation.invalid_response',
  unreachable: 'federation.unreachable',
  misconfigured: 'federation.misconfigured',
  wrong_credentials: 'federation.directory_wrong',
} as const;

const REFUSAL_TEXT = {
  federation_state_invalid: 'federation.state_invalid',
  flow_state: 'federation.state_invalid',
  flow_expired: 'federation.state_invalid',
  flow_not_found: 'federation.state_invalid',
  csrf_failed: 'federation.wrong_browser',
  connection_unknown: 'federation.connection_unknown',
  email_required: 'federation.email_required',
  account_disabled: 'federation.account_disabled',
  account_conflict: 'federation.account_conflict',
  identity_taken: 'federation.identity_taken',
  link_session_changed: 'federation.link_session_changed',
} as const;

/**
 * A federated sign-in that failed, as a hosted page (the tenant's branding, the person's
 * language) with a 4xx status and a stable code: a provider's failure is 400
 * `federation_failed` (its reason is audited, never shown); the flow's own refusals keep
 * their code. Anything else is not ours to explain: it goes to the hosted pages' handler.
 */
export function federationRefusal(reply: FastifyReply, look: PageLook, error: unknown, where: { connection?: string; back?: string }) {
  const name = where.connection ?? '';
  const back = where.back ? { back: where.back } : {};
  if (error instanceof FederationError) {
    const message = look.t(FEDERATION_TEXT[error.code], { name });
    return sendPage(
      reply,
      refusalPage({ look, message, code: error.code === 'cancelled' ? 'access_denied' : 'federation_failed', ...back }),
      400,
    );
  }
  const code = error instanceof AppError ? error.code : typeof error === 'string' ? error : undefined;
  if (code && code in REFUSAL_TEXT) {
    const key = REFUSAL_TEXT[code as keyof typeof REFUSAL_TEXT];
    const status = error instanceof AppError ? error.status : code === 'account_conflict' ? 409 : code === 'account_disabled' ? 403 : 400;
    return sendPage(reply, refusalPage({ look, message: look.t(key, { name }), code, ...back }), status);
  }
  throw error;
}
