import type { FastifyRequest } from 'fastify';
import { DEFAULT_LOCALE, type Locale, pickLocale, type Translate, translator } from '../i18n/index.js';
import { type Branding, type Html, html, page, rich, withTexts } from './html.js';

/**
 * What every page renderer gets besides its own data: the tenant's branding and the
 * page's language (`lang`, and `t`, its catalog; without `t` the catalog of `lang`, or English).
 */
export interface PageContext {
  branding?: Branding;
  lang?: Locale;
  t?: Translate;
}

/** The catalog of a page and its `lang`. */
export function wordsOf(ctx: PageContext): { t: Translate; lang: Locale } {
  const lang = ctx.lang ?? DEFAULT_LOCALE;
  return { t: withTexts(ctx.t ?? translator(lang), ctx.branding, lang), lang };
}

/** The frame of a page in its language. */
export const framed = (ctx: PageContext, title: string, body: Html): string =>
  page({ ...(ctx.branding && { branding: ctx.branding }), lang: wordsOf(ctx).lang, title, body });

/** A form's refusal, announced to screen readers (a field refers to it with `aria-describedby="form-error"`). */
export const errorBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');

/** An error as a page: its title, its sentence and, when it has one, its stable code. */
export function errorPage(ctx: PageContext & { title: string; message: string; code?: string }): string {
  const { t } = wordsOf(ctx);
  return framed(
    ctx,
    ctx.title,
    html`<h1>${ctx.title}</h1>
<p class="error" role="alert">${ctx.message}</p>
${ctx.code ? html`<p><small>${rich(t('common.error_code'), { code: html`<code>${ctx.code}</code>` })}</small></p>` : ''}`,
  );
}

/**
 * A page's language: the application's `ui_locales` (given, else the query's), then the
 * user's `locale`, then the browser's Accept-Language (see pickLocale).
 */
export function requestLocale(request: FastifyRequest, options: { uiLocales?: string | null; userLocale?: string | null } = {}): Locale {
  const query = request.query as Record<string, unknown> | undefined;
  const uiLocales = options.uiLocales ?? (typeof query?.ui_locales === 'string' ? query.ui_locales : undefined);
  return pickLocale({ uiLocales, userLocale: options.userLocale ?? null, acceptLanguage: request.headers['accept-language'] ?? null });
}
