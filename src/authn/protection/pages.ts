import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { brandingOf } from '../../directory/branding/branding.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { type Translate, translator } from '../../platform/i18n/index.js';
import { type Form, formBodies } from '../../platform/web/forms.js';
import { type Html, html, PAGE_HEADERS } from '../../platform/web/html.js';
import { framed, requestLocale } from '../../platform/web/pages.js';
import { readUnblockLink, unblockWithLink } from './lockout.js';

const FORM_LIMIT = 4 * 1024;

/**
 * The hosted page behind the unblock link of the "sign-in blocked" email. Opening the
 * link only shows a button (mail scanners open links); the button's POST ends the block,
 * once. The token is the only authority: it is high-entropy and single-use, so the form
 * needs no other CSRF token.
 */
export const unblockPages =
  (ctx: AppContext): FastifyPluginAsync =>
  async (app) => {
    formBodies(app, FORM_LIMIT);

    /** The page in the user's language (once the link names them; else the browser's) and their tenant's branding. */
    const show = async (
      request: FastifyRequest,
      reply: FastifyReply,
      userId: string | null,
      body: (t: Translate) => Html,
      status = 200,
    ) => {
      const user = userId
        ? await ctx.db.selectFrom('users').select(['home_tenant_id', 'locale']).where('id', '=', userId).executeTakeFirst()
        : undefined;
      const lang = requestLocale(request, { userLocale: user?.locale ?? null });
      const t = translator(lang);
      const branding = await brandingOf(ctx, user?.home_tenant_id);
      return reply
        .status(status)
        .headers(PAGE_HEADERS)
        .send(framed({ lang, t, ...(branding && { branding }) }, t('unblock.title'), body(t)));
    };
    const invalid = (t: Translate) => html`<h1>${t('unblock.title')}</h1><p>${t('unblock.invalid')}</p>`;

    app.get<{ Querystring: { token?: string } }>('/unblock', { schema: { hide: true } }, async (request, reply) => {
      const token = String(request.query.token ?? '').slice(0, 200);
      const link = token ? await readUnblockLink(ctx, token) : undefined;
      if (!link) return show(request, reply, null, invalid, 400);
      return show(
        request,
        reply,
        link.userId,
        (t) => html`<h1>${t('unblock.title')}</h1>
<p>${t('unblock.ask', { ip: link.ip })}</p>
<form method="post" action="/unblock">
  <input type="hidden" name="token" value="${token}">
  <button type="submit" autofocus>${t('unblock.button')}</button>
</form>`,
      );
    });

    app.post<{ Body: Form }>('/unblock', { schema: { hide: true } }, async (request, reply) => {
      const token = String(request.body?.token ?? '').slice(0, 200);
      const link = token ? await readUnblockLink(ctx, token) : undefined;
      if (!link || !(await unblockWithLink(ctx, token, actorOf(request)))) {
        return show(request, reply, null, invalid, 400);
      }
      return show(request, reply, link.userId, (t) => html`<h1>${t('unblock.title')}</h1><p>${t('unblock.done')}</p>`);
    });
  };
