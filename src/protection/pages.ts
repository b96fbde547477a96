import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { AppContext } from '../context.js';
import { actorOf } from '../http/guards.js';
import { brandingOf } from '../oidc/pages.js';
import { html, PAGE_HEADERS, page } from '../ui/html.js';
import { readUnblockLink, unblockWithLink } from './lockout.js';

const FORM_LIMIT = 4 * 1024;

const TEXT = {
  title: 'Unblock sign-in',
  ask: (ip: string) => `Sign-in to your account from the address ${ip} was blocked after repeated failed attempts.`,
  button: 'Unblock this address',
  done: 'Done: you can sign in from that address again.',
  invalid: 'This link has been used, has expired, or is not valid. You do not need to do anything else.',
};

/**
 * The hosted page behind the unblock link of the "sign-in blocked" email. Opening the
 * link only shows a button (mail scanners open links); the button's POST ends the block,
 * once. The token is the only authority: it is high-entropy and single-use, so the form
 * needs no other CSRF token.
 */
export const unblockPages =
  (ctx: AppContext): FastifyPluginAsync =>
  async (app) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    const show = async (reply: FastifyReply, tenantId: string | null, body: ReturnType<typeof html>, status = 200) =>
      reply
        .status(status)
        .headers(PAGE_HEADERS)
        .send(page({ title: TEXT.title, body, branding: (await brandingOf(ctx, tenantId ?? undefined)) ?? {} }));

    const tenantOf = async (userId: string) =>
      (await ctx.db.selectFrom('users').select('home_tenant_id').where('id', '=', userId).executeTakeFirst())?.home_tenant_id ?? null;

    app.get<{ Querystring: { token?: string } }>('/unblock', { schema: { hide: true } }, async (request, reply) => {
      const token = String(request.query.token ?? '').slice(0, 200);
      const link = token ? await readUnblockLink(ctx, token) : undefined;
      if (!link) return show(reply, null, html`<h1>${TEXT.title}</h1><p>${TEXT.invalid}</p>`, 400);
      return show(
        reply,
        await tenantOf(link.userId),
        html`<h1>${TEXT.title}</h1>
<p>${TEXT.ask(link.ip)}</p>
<form method="post" action="/unblock">
  <input type="hidden" name="token" value="${token}">
  <button type="submit" autofocus>${TEXT.button}</button>
</form>`,
      );
    });

    app.post<{ Body: Record<string, string> }>('/unblock', { schema: { hide: true } }, async (request, reply) => {
      const token = String(request.body?.token ?? '').slice(0, 200);
      const link = token ? await readUnblockLink(ctx, token) : undefined;
      if (!link || !(await unblockWithLink(ctx, token, actorOf(request)))) {
        return show(reply, null, html`<h1>${TEXT.title}</h1><p>${TEXT.invalid}</p>`, 400);
      }
      return show(reply, await tenantOf(link.userId), html`<h1>${TEXT.title}</h1><p>${TEXT.done}</p>`);
    });
  };
