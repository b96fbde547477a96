import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasSecondFactor } from '../../authn/mfa/sign-in-step.js';
import { sessionFromToken } from '../../authn/sessions/sessions.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf, SESSION_COOKIE } from '../../platform/http/guards.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import { cookieOptions } from '../../platform/web/cookies.js';
import { checkCsrf, csrfToken, type Form } from '../../platform/web/forms.js';
import { pageLook, safeReturn, sendPage } from '../kit/flow-kit.js';
import type { MessageKey, Translate } from '../kit/messages.js';
import type { AccountLook } from './area-pages.js';
import { ACCOUNT_RETURN_COOKIE, stepUpAccount } from './sign-in.js';

export function rememberReturn(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): void {
  if (request.method !== 'GET') return;
  const path = request.url.split('?')[0] ?? '/account';
  if (safeReturn(path) !== path) return;
  reply.setCookie(ACCOUNT_RETURN_COOKIE, path, cookieOptions(ctx, '/account'));
}

export type SignedIn = { redirect?: undefined; active: ActiveSession; actor: Actor; look: AccountLook };
export type SignedInPage = { redirect: FastifyReply; active?: undefined } | SignedIn;

/**
 * The account pages' session: the Gatehouse session cookie (else the account sign-in), a
 * CSRF token bound to the session on every form, and the page's language (the user's
 * locale first) and branding (the home tenant's). `stepUp`: a password-only session of a
 * user with a second factor proves the factor first (changing credentials, deleting).
 */
export function accountSession(ctx: AppContext) {
  const csrfFor = (session: ActiveSession) => csrfToken(ctx, 'account', session.session.id);

  async function signedIn(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { form?: Form; stepUp?: boolean } = {},
  ): Promise<SignedInPage> {
    const token = request.cookies[SESSION_COOKIE];
    const active = token ? await sessionFromToken(ctx, token) : undefined;
    if (!active) {
      rememberReturn(ctx, request, reply);
      return { redirect: reply.redirect('/account/sign-in', 303) };
    }
    if (options.stepUp && !active.session.amr.includes('mfa') && (await hasSecondFactor(ctx, active.user.id))) {
      rememberReturn(ctx, request, reply);
      return { redirect: await stepUpAccount(ctx, request, reply, active) };
    }
    if (options.form) checkCsrf(ctx, options.form, 'account', active.session.id);
    const actor: Actor = { ...actorOf(request), type: 'user', id: active.user.id };
    const { t, locale, branding } = await pageLook(ctx, request, { tenantId: active.user.home_tenant_id, userLocale: active.user.locale });
    return { active, actor, look: { t, locale, csrf: csrfFor(active), ...(branding && { branding }) } };
  }

  /**
   * A form of the account area: the session and the form's CSRF token (and the step-up when
   * asked), then the change; a refusal (a 4xx) shows the page again with its message.
   */
  function formRoute(
    app: FastifyInstance,
    path: string,
    options: { stepUp?: boolean },
    change: (s: SignedIn, form: Form, reply: FastifyReply) => Promise<FastifyReply>,
    again: (s: SignedIn, form: Form, error: string) => string | Promise<string>,
  ): void {
    app.post<{ Body: Form }>(path, { schema: { hide: true } }, async (request, reply) => {
      const form = request.body ?? {};
      const s = await signedIn(request, reply, { form, ...options });
      if (!s.active) return s.redirect;
      return attemptOn(
        reply,
        s.look,
        () => change(s, form, reply),
        (error) => again(s, form, error),
      );
    });
  }

  return { csrfFor, signedIn, formRoute };
}

/** Fixed notices by key (never text from the query string). */
const NOTICES: Record<string, MessageKey> = {
  saved: 'account.notice_saved',
  email_sent: 'account.notice_email_sent',
  email_changed: 'account.notice_email_changed',
  password_changed: 'account.notice_password_changed',
  session_revoked: 'account.notice_session_revoked',
  app_revoked: 'account.notice_app_revoked',
  identity_unlinked: 'account.notice_identity_unlinked',
  identity_linked: 'account.notice_identity_linked',
};

/** Error codes with words of their own in the catalog; any other refusal shows its message. */
const ERRORS: Partial<Record<string, MessageKey>> = {
  invalid_credentials: 'account.error_password',
  email_taken: 'account.error_email_taken',
  invalid_email: 'account.error_invalid_email',
  email_unchanged: 'account.error_email_unchanged',
  invalid_code: 'account.error_code',
  flow_expired: 'account.error_flow_expired',
  flow_not_found: 'account.error_flow_expired',
  flow_state: 'account.error_flow_expired',
  link_invalid: 'common.link_invalid',
  link_expired: 'common.link_expired',
  too_many_attempts: 'account.error_too_many',
  invalid_field: 'account.error_invalid_field',
  password_mismatch: 'account.error_password_mismatch',
  account_deletion_disabled: 'account.delete_disabled',
  last_system_administrator: 'account.delete_last_admin',
  last_sign_in_method: 'account.error_last_sign_in_method',
  connection_unknown: 'account.error_connection_unknown',
};
export const errorText = (t: Translate, error: AppError) => {
  const key = ERRORS[error.code];
  return key ? t(key) : error.message;
};

export const noticeOf = (t: Translate, query: unknown) => {
  const key = NOTICES[String((query as { notice?: unknown }).notice ?? '')];
  return key ? t(key) : undefined;
};

/** Runs a change; a refusal (a 4xx) shows the page again with its message. */
async function attemptOn(
  reply: FastifyReply,
  look: AccountLook,
  change: () => Promise<FastifyReply>,
  again: (error: string) => string | Promise<string>,
) {
  try {
    return await change();
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500 || error.code === 'csrf_failed') throw error;
    return sendPage(reply, await again(errorText(look.t, error)), error.status);
  }
}
