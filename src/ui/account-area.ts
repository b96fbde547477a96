import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { listConsentedApplications, revokeConsent } from '../account/applications.js';
import { deleteOwnAccount, deletionAllowed } from '../account/deletion.js';
import { confirmEmailChangeCode, confirmEmailChangeLink, pendingEmailChange, startEmailChange } from '../account/email-change.js';
import type { AppContext } from '../context.js';
import { AppError, notFound } from '../errors.js';
import { peekLink } from '../flows/flows.js';
import { actorOf } from '../http/guards.js';
import type { MessageKey, Translate } from '../i18n/index.js';
import { isUuid } from '../ids.js';
import { clearSessionCookie } from '../sessions/cookie.js';
import { listSessions, revokeOwnSession } from '../sessions/manage.js';
import { type ActiveSession, signOut } from '../sessions/sessions.js';
import { changeOwnPassword } from '../users/password.js';
import { ProfilePatch } from '../users/schema.js';
import { updateMe } from '../users/users.js';
import {
  type AccountLook,
  applicationsPage,
  deletePage,
  emailConfirmPage,
  emailPage,
  goodbyePage,
  passwordPage,
  profilePage,
  sessionsPage,
} from './account-area-pages.js';
import { accountSession } from './account-session.js';
import { type Form, pageLook, sendPage } from './flow-kit.js';

/** Fixed notices by key (never text from the query string). */
const NOTICES: Record<string, MessageKey> = {
  saved: 'account.notice_saved',
  email_sent: 'account.notice_email_sent',
  email_changed: 'account.notice_email_changed',
  password_changed: 'account.notice_password_changed',
  session_revoked: 'account.notice_session_revoked',
  app_revoked: 'account.notice_app_revoked',
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
};
export const errorText = (t: Translate, error: AppError) => {
  const key = ERRORS[error.code];
  return key ? t(key) : error.message;
};

const noticeOf = (t: Translate, query: unknown) => {
  const key = NOTICES[String((query as { notice?: unknown }).notice ?? '')];
  return key ? t(key) : undefined;
};

/** The account area's sections besides security (src/ui/account-routes.ts): each a page and a form, thin over the domain functions. */
export function accountAreaRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { signedIn } = accountSession(ctx);
  const hide = { schema: { hide: true } };

  /** Runs a change; a refusal (a 4xx) shows the page again with its message. */
  async function attempt(
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

  // Profile (home)
  app.get('/account', hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    return sendPage(reply, profilePage(s.look, s.active.user, { notice: noticeOf(s.look.t, request.query) }));
  });

  app.post<{ Body: Form }>('/account', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form });
    if (!s.active) return s.redirect;
    const { active, actor, look } = s;
    const blank = (v: string | undefined) => (v?.trim() ? v.trim() : null);
    const patch = {
      given_name: blank(form.given_name),
      family_name: blank(form.family_name),
      name: blank(form.name),
      phone: blank(form.phone),
      locale: form.locale === 'en' || form.locale === 'de' ? form.locale : null,
    };
    return attempt(
      reply,
      look,
      async () => {
        if (!Value.Check(ProfilePatch, patch)) throw new AppError('invalid_field', 'Check the fields and try again');
        await updateMe(ctx, actor, active.user.id, patch);
        return reply.redirect('/account?notice=saved', 303);
      },
      (error) => profilePage(look, active.user, { error, values: form }),
    );
  });

  // Email
  const showEmail = async (look: AccountLook, active: ActiveSession, state: { error?: string; notice?: string; email?: string }) => {
    const pending = await pendingEmailChange(ctx, active.user.id);
    return emailPage(look, active.user, { ...state, ...(pending && { pending: { id: pending.id, email: pending.email as string } }) });
  };

  app.get('/account/email', hide, async (request, reply) => {
    const s = await signedIn(request, reply, { stepUp: true });
    if (!s.active) return s.redirect;
    return sendPage(reply, await showEmail(s.look, s.active, { notice: noticeOf(s.look.t, request.query) }));
  });

  app.post<{ Body: Form }>('/account/email', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form, stepUp: true });
    if (!s.active) return s.redirect;
    const { active, actor, look } = s;
    return attempt(
      reply,
      look,
      async () => {
        await startEmailChange(ctx, actor, active.user, { email: form.email ?? '', password: form.password ?? '' });
        return reply.redirect('/account/email?notice=email_sent', 303);
      },
      (error) => showEmail(look, active, { error, email: form.email ?? '' }),
    );
  });

  app.post<{ Body: Form }>('/account/email/code', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form, stepUp: true });
    if (!s.active) return s.redirect;
    const { active, actor, look } = s;
    return attempt(
      reply,
      look,
      async () => {
        await confirmEmailChangeCode(ctx, actor, active.user.id, form.flow ?? '', (form.code ?? '').replace(/\s+/g, ''));
        return reply.redirect('/account/email?notice=email_changed', 303);
      },
      async (error) => {
        // The page shows the account as it is now (the change may have failed at confirmation).
        const fresh = {
          ...active,
          user: (await ctx.db.selectFrom('users').selectAll().where('id', '=', active.user.id).executeTakeFirst()) ?? active.user,
        };
        return showEmail(look, fresh, { error });
      },
    );
  });

  // The emailed link: a page with a button (mail scanners follow links; they do not submit forms).
  app.get<{ Querystring: { token?: string } }>('/account/email/confirm', hide, async (request, reply) => {
    const token = request.query.token ?? '';
    try {
      const flow = await peekLink(ctx.db, ctx, token, 'email_change');
      const look = await pageLook(ctx, request, { tenantId: flow.tenant_id, userLocale: flow.locale });
      return sendPage(reply, emailConfirmPage(look, { token, email: flow.email as string }));
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const look = await pageLook(ctx, request);
      return sendPage(reply, emailConfirmPage(look, { error: errorText(look.t, error) }), error.status);
    }
  });

  app.post<{ Body: Form }>('/account/email/confirm', hide, async (request, reply) => {
    try {
      const user = await confirmEmailChangeLink(ctx, actorOf(request), request.body?.token ?? '');
      const look = await pageLook(ctx, request, { tenantId: user.home_tenant_id, userLocale: user.locale });
      return sendPage(reply, emailConfirmPage(look, { done: user.email }));
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const look = await pageLook(ctx, request);
      return sendPage(reply, emailConfirmPage(look, { error: errorText(look.t, error) }), error.status);
    }
  });

  // Password
  app.get('/account/password', hide, async (request, reply) => {
    const s = await signedIn(request, reply, { stepUp: true });
    if (!s.active) return s.redirect;
    return sendPage(reply, passwordPage(s.look, { notice: noticeOf(s.look.t, request.query) }));
  });

  app.post<{ Body: Form }>('/account/password', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form, stepUp: true });
    if (!s.active) return s.redirect;
    const { active, actor, look } = s;
    return attempt(
      reply,
      look,
      async () => {
        if ((form.new_password ?? '') !== (form.confirm_password ?? ''))
          throw new AppError('password_mismatch', 'The new passwords differ');
        await changeOwnPassword(ctx, actor, active, {
          current_password: form.current_password ?? '',
          new_password: form.new_password ?? '',
        });
        return reply.redirect('/account/password?notice=password_changed', 303);
      },
      (error) => passwordPage(look, { error }),
    );
  });

  // Sessions
  app.get('/account/sessions', hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    const sessions = await listSessions(ctx, s.active.user.id, s.active.session.id);
    return sendPage(reply, sessionsPage(s.look, sessions, { notice: noticeOf(s.look.t, request.query) }));
  });

  app.post<{ Body: Form }>('/account/sessions/revoke', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form });
    if (!s.active) return s.redirect;
    const { active, actor, look } = s;
    return attempt(
      reply,
      look,
      async () => {
        if (!isUuid(form.session_id ?? '')) throw notFound('Session');
        await revokeOwnSession(ctx, actor, active.user.id, form.session_id as string);
        if (form.session_id === active.session.id) {
          clearSessionCookie(ctx, reply);
          return reply.redirect('/account/sign-in', 303);
        }
        return reply.redirect('/account/sessions?notice=session_revoked', 303);
      },
      async (error) => sessionsPage(look, await listSessions(ctx, active.user.id, active.session.id), { error }),
    );
  });

  // Applications
  app.get('/account/applications', hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    const apps = await listConsentedApplications(ctx, s.active.user.id);
    return sendPage(reply, applicationsPage(s.look, apps, { notice: noticeOf(s.look.t, request.query) }));
  });

  app.post<{ Body: Form }>('/account/applications/revoke', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form });
    if (!s.active) return s.redirect;
    const { active, actor, look } = s;
    return attempt(
      reply,
      look,
      async () => {
        await revokeConsent(ctx, actor, active.user.id, form.client_id ?? '');
        return reply.redirect('/account/applications?notice=app_revoked', 303);
      },
      async (error) => applicationsPage(look, await listConsentedApplications(ctx, active.user.id), { error }),
    );
  });

  // Delete the account
  app.get('/account/delete', hide, async (request, reply) => {
    const s = await signedIn(request, reply, { stepUp: true });
    if (!s.active) return s.redirect;
    const verdict = await deletionAllowed(ctx, s.active.user);
    return sendPage(reply, deletePage(s.look, verdict), verdict.allowed ? 200 : 403);
  });

  app.post<{ Body: Form }>('/account/delete', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form, stepUp: true });
    if (!s.active) return s.redirect;
    const { active, actor, look } = s;
    return attempt(
      reply,
      look,
      async () => {
        await deleteOwnAccount(ctx, actor, active.user, form.password ?? '');
        clearSessionCookie(ctx, reply);
        return sendPage(reply, goodbyePage(look));
      },
      async (error) => deletePage(look, await deletionAllowed(ctx, active.user), { error }),
    );
  });

  // Sign out of this browser
  app.post<{ Body: Form }>('/account/sign-out', hide, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, { form });
    if (!s.active) return s.redirect;
    await signOut(ctx, s.active.session, s.actor);
    clearSessionCookie(ctx, reply);
    return reply.redirect('/account/sign-in', 303);
  });
}
