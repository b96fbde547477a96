import type { FastifyInstance } from 'fastify';
import { type Connection, FederationError } from '../../authn/federation/strategy.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { SESSION_COOKIE } from '../../platform/http/guards.js';
import { setRetryAfter } from '../../platform/http/server.js';
import type { Form } from '../../platform/web/forms.js';
import { finishAccountLink, linkableConnection, linkableConnections } from '../federation/account-link.js';
import { federationRefusal } from '../federation/begin.js';
import { directoryPage } from '../federation/pages.js';
import { ACCOUNT_LINK_RETURN, type Origin, provePassword, startRedirect, strategyFor } from '../federation/start.js';
import { browserBinding, sendPage } from '../kit/flow-kit.js';
import { tooManyAttemptsText } from '../sign-in/pages.js';
import { type AccountLook, identitiesPage } from './area-pages.js';
import { listIdentities, unlinkIdentity } from './identities.js';
import { accountSession, noticeOf, type SignedIn } from './session.js';

/**
 * The account page's linked accounts (/account/identities): the list with an Unlink form
 * each, and a Link button for each connection the user may link (decision 284). A Link
 * starts a federation flow bound to this browser and this session (account-link.ts); a
 * directory connection (`ad`) shows its username and password form instead. Linking and
 * unlinking both want a session that proved the second factor when the account has one.
 */
export function identityPages(app: FastifyInstance, ctx: AppContext): void {
  const { signedIn, formRoute } = accountSession(ctx);
  const hide = { schema: { hide: true } };
  const BACK = ACCOUNT_LINK_RETURN;

  async function listPage(look: AccountLook, user: SignedIn['active']['user'], state: { notice?: string; error?: string } = {}) {
    const identities = await listIdentities(ctx, user.id);
    const linkable = (await linkableConnections(ctx, user)).map((c) => ({ name: c.name, displayName: c.display_name }));
    return identitiesPage(look, identities, linkable, state);
  }

  const originOf = ({ active }: SignedIn): Origin => ({
    kind: 'account',
    tenantId: active.user.home_tenant_id as string,
    userId: active.user.id,
    sessionId: active.session.id,
  });
  const directoryAction = (connection: Pick<Connection, 'name'>) => `${BACK}/link/${encodeURIComponent(connection.name)}/login`;

  app.get(BACK, hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    return sendPage(reply, await listPage(s.look, s.active.user, { notice: noticeOf(s.look.t, request.query) }));
  });

  formRoute(
    app,
    `${BACK}/unlink`,
    { stepUp: true },
    async ({ active, actor }, form, reply) => {
      await unlinkIdentity(ctx, actor, active.user.id, form.connection ?? '', form.user_id ?? '');
      return reply.redirect(`${BACK}?notice=identity_unlinked`, 303);
    },
    async ({ look, active }, _form, error) => listPage(look, active.user, { error }),
  );

  /** A Link button: the provider (a redirect connection) or the directory's form (`ad`). */
  app.post<{ Body: Form }>(`${BACK}/link`, hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form, stepUp: true });
    if (!s.active) return s.redirect;
    let connection: Connection;
    try {
      connection = await linkableConnection(ctx, s.active.user, form.connection ?? '');
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'connection_unknown') throw error;
      return sendPage(reply, await listPage(s.look, s.active.user, { error: s.look.t('account.error_connection_unknown') }), 400);
    }
    try {
      const strategy = strategyFor(connection);
      if (strategy.kind === 'password') {
        const page = directoryPage({
          look: s.look,
          action: directoryAction(connection),
          csrf: s.look.csrf,
          connection: connection.displayName,
          back: BACK,
        });
        return sendPage(reply, page);
      }
      const browser = browserBinding(ctx, request, reply);
      const { url } = await startRedirect(ctx, { connection, strategy, origin: originOf(s), browser, locale: s.look.locale });
      return reply.redirect(url, 303);
    } catch (error) {
      return federationRefusal(reply, s.look, error, { connection: connection.displayName, back: BACK });
    }
  });

  /** A directory connection's form: the username and password prove the identity, which is linked at once. */
  app.post<{ Params: { name: string }; Body: Form }>(`${BACK}/link/:name/login`, hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form, stepUp: true });
    if (!s.active) return s.redirect;
    const username = (form.username ?? '').slice(0, 256);
    let connection: Connection | undefined;
    const again = (error: AppError) => {
      const refused = error.code === 'too_many_attempts';
      if (refused) setRetryAfter(reply, error);
      const page = directoryPage({
        look: s.look,
        action: directoryAction({ name: request.params.name }),
        csrf: s.look.csrf,
        connection: connection?.displayName ?? request.params.name,
        username,
        back: BACK,
        error: refused ? tooManyAttemptsText(s.look.t, error.details?.retry_after) : s.look.t('federation.directory_wrong'),
      });
      return sendPage(reply, page, refused ? 429 : 401);
    };
    try {
      connection = await linkableConnection(ctx, s.active.user, request.params.name);
      const strategy = strategyFor(connection);
      if (strategy.kind !== 'password') throw new FederationError('misconfigured', 'Not a password connection');
      const browser = browserBinding(ctx, request, reply);
      const start = { connection, strategy, origin: originOf(s), browser, locale: s.look.locale };
      const flow = await provePassword(ctx, start, { username, password: form.password ?? '' }, s.actor);
      await finishAccountLink(ctx, flow, connection, request.cookies[SESSION_COOKIE], s.actor);
      return reply.redirect(`${BACK}?notice=identity_linked`, 303);
    } catch (error) {
      if (error instanceof AppError && (error.code === 'invalid_credentials' || error.code === 'too_many_attempts')) return again(error);
      if (error instanceof AppError && error.code === 'connection_unknown') {
        return sendPage(reply, await listPage(s.look, s.active.user, { error: s.look.t('account.error_connection_unknown') }), 400);
      }
      return federationRefusal(reply, s.look, error, { connection: connection?.displayName ?? '', back: BACK });
    }
  });
}
