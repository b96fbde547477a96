import { readdir, readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';
import { html, page } from '../../platform/web/html.js';
import { requestLocale } from '../../platform/web/pages.js';
import { sendPage } from '../kit/flow-kit.js';
import { translator } from '../kit/messages.js';

/** The docs/ folder of the distribution (src/flows/home and dist/flows/home are both three levels down). */
const DOCS = new URL('../../../docs/', import.meta.url);
const DOC_NAME = /^[a-z0-9-]+\.md$/;
const hide = { schema: { hide: true } };

/**
 * The server's front page (GET /): links to the account area, the API reference
 * (/api/v1/docs), the OpenID Connect discovery document and the documentation, which is
 * served as it ships (docs/*.md, plain text) under /docs.
 */
export function homeRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    app.get('/', hide, async (request, reply) => {
      const lang = requestLocale(request);
      const t = translator(lang);
      const link = (href: string, title: string, explain: string) =>
        html`<li><a href="${href}">${title}</a><br><small>${explain}</small></li>`;
      const body = html`<h1>${t('home.title')}</h1>
<p>${t('home.intro')}</p>
<ul class="links">
${link('/account', t('home.account'), t('home.account_explain'))}
${link('/api/v1/docs', t('home.api_reference'), t('home.api_reference_explain'))}
${link('/.well-known/openid-configuration', t('home.openid'), t('home.openid_explain'))}
${link('/docs', t('home.docs'), t('home.docs_explain'))}
</ul>
<p><small>${ctx.config.issuer}</small></p>`;
      return sendPage(reply, page({ lang, title: t('home.title'), body }));
    });

    app.get('/docs', hide, async (request, reply) => {
      const lang = requestLocale(request);
      const t = translator(lang);
      const names = (await readdir(DOCS).catch(() => [] as string[])).filter((name) => DOC_NAME.test(name)).sort();
      const body = html`<h1>${t('home.docs')}</h1>
<ul class="links">${names.map((name) => html`<li><a href="/docs/${name}">${name}</a></li>`)}</ul>`;
      return sendPage(reply, page({ lang, title: t('home.docs'), body }));
    });

    app.get<{ Params: { name: string } }>('/docs/:name', hide, async (request, reply) => {
      const { name } = request.params;
      if (!DOC_NAME.test(name)) throw notFound('Document');
      const text = await readFile(new URL(name, DOCS), 'utf8').catch(() => undefined);
      if (text === undefined) throw notFound('Document');
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'public, max-age=300').send(text);
    });
  };
}
