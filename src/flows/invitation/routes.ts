import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasSecondFactor, mayOpenSession } from '../../authn/mfa/sign-in-step.js';
import { sessionFromToken } from '../../authn/sessions/sessions.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf, SESSION_COOKIE } from '../../platform/http/guards.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import type { Form } from '../../platform/web/forms.js';
import { browserBinding, checkLinkForm, linkCsrf, type PageLook, pageLook, sendPage, signInAndReturn } from '../kit/flow-kit.js';
import { formError, messagePage } from '../recovery/pages.js';
import { acceptJoin, acceptWithPassword } from './accept.js';
import { type OpenInvitation, peekInvitation } from './invitations.js';
import { activatePage, joinPage } from './pages.js';

const TOKEN = /^[\w.-]{1,200}$/;
const ACTION = '/invitation';

/**
 * The invitation link's page (/invitation?token=…): a new user sets the first password and
 * is signed in; an existing user, signed in as the invited account, accepts with a button.
 * Opening the link changes nothing (mail scanners open links); only the POST spends it.
 */
export function invitationPageRoutes(app: FastifyInstance, ctx: AppContext): void {
  const lookOf = (request: FastifyRequest, invitation: OpenInvitation) =>
    pageLook(ctx, request, { tenantId: invitation.flow.tenant_id, userLocale: invitation.locale });
  const brandOf = (look: PageLook, invitation: OpenInvitation) => look.branding?.display_name ?? (invitation.tenantName || 'Gatehouse');

  const deadLink = async (request: FastifyRequest, reply: FastifyReply, error: unknown) => {
    if (!(error instanceof AppError) || !['link_invalid', 'link_expired', 'account_disabled'].includes(error.code)) throw error;
    const look = await pageLook(ctx, request);
    const message = error.code === 'link_expired' ? look.t('common.link_expired') : look.t('common.link_invalid');
    return sendPage(reply, messagePage(look, { title: look.t('common.something_went_wrong'), message, alert: true }), error.status);
  };

  /** Where the signed-in browser stands with a `join` invitation. */
  async function joinStatus(
    request: FastifyRequest,
    invitation: OpenInvitation,
  ): Promise<{ status: 'ready' | 'sign_in' | 'wrong_account'; active?: ActiveSession }> {
    const cookie = request.cookies[SESSION_COOKIE];
    const active = cookie ? await sessionFromToken(ctx, cookie) : undefined;
    if (!active) return { status: 'sign_in' };
    if (active.user.id !== invitation.user?.id) return { status: 'wrong_account' };
    // With a second factor, a password-only session signs in again (with the factor) first.
    if (!active.session.amr.includes('mfa') && (await hasSecondFactor(ctx, active.user.id))) return { status: 'sign_in' };
    return { status: 'ready', active };
  }

  async function showInvitation(request: FastifyRequest, reply: FastifyReply, invitation: OpenInvitation, token: string, error?: string) {
    const look = await lookOf(request, invitation);
    const common = {
      action: ACTION,
      token,
      csrf: linkCsrf(ctx, invitation.flow.id, browserBinding(ctx, request, reply)),
      email: invitation.email,
      brand: brandOf(look, invitation),
    };
    if (invitation.mode === 'activate')
      return sendPage(reply, activatePage(look, { ...common, ...(error && { error }) }), error ? 400 : 200);
    const { status } = await joinStatus(request, invitation);
    return sendPage(reply, joinPage(look, { ...common, tenant: invitation.tenantName, status }), status === 'wrong_account' ? 403 : 200);
  }

  app.get<{ Querystring: { token?: string } }>(ACTION, { schema: { hide: true } }, async (request, reply) => {
    const token = String(request.query.token ?? '');
    let invitation: OpenInvitation;
    try {
      if (!TOKEN.test(token)) throw new AppError('link_invalid', 'Not a link');
      invitation = await peekInvitation(ctx, token);
    } catch (error) {
      return deadLink(request, reply, error);
    }
    return showInvitation(request, reply, invitation, token);
  });

  app.post<{ Body: Form }>(ACTION, { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    const token = form.token ?? '';
    let invitation: OpenInvitation;
    try {
      if (!TOKEN.test(token)) throw new AppError('link_invalid', 'Not a link');
      invitation = await peekInvitation(ctx, token);
    } catch (error) {
      return deadLink(request, reply, error);
    }
    // Bound to the flow and to the browser that opened the link: another site cannot post its own link's form (login CSRF).
    checkLinkForm(ctx, request, invitation.flow.id, form);
    const look = await lookOf(request, invitation);
    if (invitation.mode === 'activate') {
      let accepted: Awaited<ReturnType<typeof acceptWithPassword>>;
      try {
        accepted = await acceptWithPassword(ctx, token, form.password ?? '', actorOf(request));
      } catch (error) {
        const message = formError(look, error);
        if (!message) throw error;
        if (error instanceof AppError && error.code.startsWith('link_')) return deadLink(request, reply, error);
        return showInvitation(request, reply, invitation, token, message);
      }
      if (await mayOpenSession(ctx, accepted.user)) {
        return signInAndReturn(ctx, reply, accepted.user, { flow: accepted.flow, amr: ['pwd'] }, actorOf(request));
      }
      return reply.redirect('/account/sign-in', 303);
    }
    const { active } = await joinStatus(request, invitation);
    if (!active) return showInvitation(request, reply, invitation, token);
    await acceptJoin(ctx, token, active, actorOf(request));
    return sendPage(
      reply,
      messagePage(look, {
        title: look.t('invitation.joined_title', { tenant: invitation.tenantName }),
        message: look.t('invitation.joined', { tenant: invitation.tenantName }),
        link: { href: '/account', label: look.t('invitation.to_account') },
      }),
    );
  });
}
