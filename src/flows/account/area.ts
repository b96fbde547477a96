import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import { changeOwnPassword } from '../../authn/passwords/change.js';
import { clearSessionCookie } from '../../authn/sessions/cookie.js';
import { listSessions, revokeOwnSession } from '../../authn/sessions/manage.js';
import { signOut } from '../../authn/sessions/sessions.js';
import { ProfilePatch } from '../../directory/users/schema.js';
import { listImpersonations } from '../../oauth/tokens/impersonations.js';
import type { AppContext } from '../../platform/context.js';
import { AppError, notFound } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import type { Form } from '../../platform/web/forms.js';
import { sendPage } from '../kit/flow-kit.js';
import { listConsentedApplications, revokeConsent } from './applications.js';
import { applicationsPage, deletePage, goodbyePage, passwordPage, profilePage, sessionsPage } from './area-pages.js';
import { deleteOwnAccount, deletionAllowed } from './deletion.js';
import { identityPages } from './identity-pages.js';
import { updateMe } from './profile.js';
import { accountSession, noticeOf } from './session.js';
import { supportAccessPage } from './support-pages.js';

/** The account area's sections besides security (src/ui/account-routes.ts): each a page and a form, thin over the domain functions. */
export function accountAreaRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { signedIn, formRoute } = accountSession(ctx);
  const hide = { schema: { hide: true } };

  // Profile (home)
  app.get('/account', hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    return sendPage(reply, profilePage(s.look, s.active.user, { notice: noticeOf(s.look.t, request.query) }));
  });

  const blank = (v: string | undefined) => (v?.trim() ? v.trim() : null);
  formRoute(
    app,
    '/account',
    {},
    async ({ active, actor }, form, reply) => {
      const patch = {
        given_name: blank(form.given_name),
        family_name: blank(form.family_name),
        name: blank(form.name),
        phone: blank(form.phone),
        locale: form.locale === 'en' || form.locale === 'de' ? form.locale : null,
      };
      if (!Value.Check(ProfilePatch, patch)) throw new AppError('invalid_field', 'Check the fields and try again');
      await updateMe(ctx, actor, active.user.id, patch);
      return reply.redirect('/account?notice=saved', 303);
    },
    ({ look, active }, form, error) => profilePage(look, active.user, { error, values: form }),
  );

  // Password
  app.get('/account/password', hide, async (request, reply) => {
    const s = await signedIn(request, reply, { stepUp: true });
    if (!s.active) return s.redirect;
    return sendPage(reply, passwordPage(s.look, { notice: noticeOf(s.look.t, request.query) }));
  });

  formRoute(
    app,
    '/account/password',
    { stepUp: true },
    async ({ active, actor }, form, reply) => {
      if ((form.new_password ?? '') !== (form.confirm_password ?? '')) throw new AppError('password_mismatch', 'The new passwords differ');
      await changeOwnPassword(ctx, actor, active, { current_password: form.current_password ?? '', new_password: form.new_password ?? '' });
      return reply.redirect('/account/password?notice=password_changed', 303);
    },
    ({ look }, _form, error) => passwordPage(look, { error }),
  );

  // Sessions
  app.get('/account/sessions', hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    const sessions = await listSessions(ctx, s.active.user.id, s.active.session.id);
    return sendPage(reply, sessionsPage(s.look, sessions, ctx.clock.now(), { notice: noticeOf(s.look.t, request.query) }));
  });

  formRoute(
    app,
    '/account/sessions/revoke',
    {},
    async ({ active, actor }, form, reply) => {
      if (!isUuid(form.session_id ?? '')) throw notFound('Session');
      await revokeOwnSession(ctx, actor, active.user.id, form.session_id as string);
      if (form.session_id === active.session.id) {
        clearSessionCookie(ctx, reply);
        return reply.redirect('/account/sign-in', 303);
      }
      return reply.redirect('/account/sessions?notice=session_revoked', 303);
    },
    async ({ look, active }, _form, error) =>
      sessionsPage(look, await listSessions(ctx, active.user.id, active.session.id), ctx.clock.now(), { error }),
  );

  // Applications
  app.get('/account/applications', hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    const apps = await listConsentedApplications(ctx, s.active.user.id);
    return sendPage(reply, applicationsPage(s.look, apps, { notice: noticeOf(s.look.t, request.query) }));
  });

  formRoute(
    app,
    '/account/applications/revoke',
    {},
    async ({ active, actor }, form, reply) => {
      await revokeConsent(ctx, actor, active.user.id, form.client_id ?? '');
      return reply.redirect('/account/applications?notice=app_revoked', 303);
    },
    async ({ look, active }, _form, error) => applicationsPage(look, await listConsentedApplications(ctx, active.user.id), { error }),
  );

  // Support access: the administrators who impersonated the user (decision 433)
  app.get('/account/support-access', hide, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    return sendPage(reply, supportAccessPage(s.look, await listImpersonations(ctx, s.active.user.id)));
  });

  // Linked accounts (identities at other providers)
  identityPages(app, ctx);

  // Delete the account
  app.get('/account/delete', hide, async (request, reply) => {
    const s = await signedIn(request, reply, { stepUp: true });
    if (!s.active) return s.redirect;
    const verdict = await deletionAllowed(ctx, s.active.user);
    return sendPage(reply, deletePage(s.look, verdict), verdict.allowed ? 200 : 403);
  });

  formRoute(
    app,
    '/account/delete',
    { stepUp: true },
    async ({ active, actor, look }, form, reply) => {
      await deleteOwnAccount(ctx, actor, active.user, form.password ?? '');
      clearSessionCookie(ctx, reply);
      return sendPage(reply, goodbyePage(look));
    },
    async ({ look, active }, _form, error) => deletePage(look, await deletionAllowed(ctx, active.user), { error }),
  );

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
