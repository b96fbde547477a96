import { createHash, randomBytes } from 'node:crypto';
import { type Locale, type Translate, translator } from '../i18n/index.js';

/**
 * Server-rendered hosted pages: plain HTML forms that work without JavaScript. Every
 * value is escaped on the way in; branding comes from the application's tenant.
 */

/**
 * A tenant's branding, as its pages and emails are drawn (stored in `tenants.branding`, read
 * by src/directory/branding/branding.ts, checked on save by src/directory/tenants/schema.ts):
 * declared here, the lowest layer that renders it. Data only, never CSS or HTML: each value
 * is checked again as it is drawn, so the pages' CSP stays as strict as without it.
 */
export interface Branding {
  display_name?: string;
  logo_url?: string;
  favicon_url?: string;
  background_image_url?: string;
  primary_color?: string;
  background_color?: string;
  text_color?: string;
  link_color?: string;
  /** A font installed on the reader's system (the CSP loads no font), before the system's own. */
  font?: string;
  /** Corner radius of the card, fields and buttons, in pixels. */
  corner_radius?: number;
  /** Light, dark, or as the reader's system prefers (`auto`). */
  theme?: 'light' | 'dark' | 'auto';
  /** The tenant's own words for catalog keys, per language: plain text, escaped like any other. */
  texts?: Partial<Record<Locale, Record<string, string>>>;
}

export const DEFAULT_BRANDING = { display_name: 'Gatehouse', primary_color: '#1f4fd1' } as const;

const COLOR = /^#[0-9a-fA-F]{6}$/;
/** An https URL that can stand in a CSS `url("…")` and an attribute as it is: no quote, bracket, backslash or space. */
const SAFE_HTTPS_URL = /^https:\/\/[^\s"'()<>\\]+$/;
const FONT = /^[A-Za-z0-9][A-Za-z0-9 -]{0,62}$/;

const color = (value: string | undefined, fallback: string) => (value && COLOR.test(value) ? value : fallback);
const httpsUrl = (value: string | undefined) => (value && SAFE_HTTPS_URL.test(value) ? value : undefined);

/** The catalog with the tenant's own words for this language put over it. */
export function withTexts<K extends string>(t: Translate<K>, branding: Branding | undefined, locale: Locale): Translate<K> {
  const own = branding?.texts?.[locale];
  if (!own || Object.keys(own).length === 0) return t;
  return (key, vars) => {
    const template = own[key];
    if (typeof template !== 'string') return t(key, vars);
    return vars ? template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole)) : template;
  };
}

/** A string of HTML that has been escaped or built from escaped parts. */
export class Html {
  constructor(readonly value: string) {}
  toString() {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

/** Tagged template: interpolated values are escaped unless they are Html already; arrays are joined. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] as string;
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] as string);
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(value);
}

/**
 * A catalog sentence with markup in its placeholders (`{client}` → `<strong>…</strong>`):
 * the sentence is escaped, each value is rendered like a template value (escaped unless Html).
 */
export function rich(template: string, vars: Record<string, unknown>): Html {
  return new Html(
    template
      .split(/(\{\w+\})/)
      .map((part) => {
        const name = /^\{(\w+)\}$/.exec(part)?.[1];
        return name !== undefined && name in vars ? render(vars[name]) : escapeHtml(part);
      })
      .join(''),
  );
}

/** Trusted markup handed to us by the protocol engine (its hidden-field forms). */
export const trusted = (markup: string): Html => new Html(markup);

/**
 * The light palette (the tenant's colours over the defaults) and the dark one (fixed, with
 * the tenant's primary colour): `auto` switches by the reader's `prefers-color-scheme`.
 */
function palette(brand: Branding): string {
  const primary = color(brand.primary_color, DEFAULT_BRANDING.primary_color);
  const light = `--primary: ${primary}; --bg: ${color(brand.background_color, '#f4f5f7')}; --card: #fff; --text: ${color(brand.text_color, '#1a1a1a')}; --muted: #555; --border: #767676; --link: ${color(brand.link_color, '#1a4fc4')}; --error-bg: #fdecea; --error: #8a1c13; color-scheme: light;`;
  const dark = `--primary: ${primary}; --bg: #111315; --card: #1d2024; --text: #ececec; --muted: #b5b5b5; --border: #8d939b; --link: #8fb3ff; --error-bg: #3b1512; --error: #ffb4a9; color-scheme: dark;`;
  const radius =
    Number.isInteger(brand.corner_radius) && (brand.corner_radius as number) >= 0 && (brand.corner_radius as number) <= 32
      ? brand.corner_radius
      : 8;
  const font = brand.font && FONT.test(brand.font) ? `"${brand.font}", ` : '';
  const background = httpsUrl(brand.background_image_url);
  const shared = `--radius: ${radius}px; --font: ${font}system-ui, sans-serif;${background ? ` --bg-image: url("${background}");` : ''}`;
  if (brand.theme === 'dark') return `:root { ${dark} ${shared} }`;
  if (brand.theme === 'auto') return `:root { ${light} ${shared} }\n  @media (prefers-color-scheme: dark) { :root { ${dark} } }`;
  return `:root { ${light} ${shared} }`;
}

/**
 * Shows a password as typed, and hides it again: added by this one inline script to every
 * password field, so a page without JavaScript keeps its plain field. Its hash is in the
 * pages' CSP (`script-src`), no other inline script runs.
 */
const REVEAL_SCRIPT =
  "document.querySelectorAll('input[type=password]').forEach(function(input){var b=document.createElement('button'),d=document.body.dataset;b.type='button';b.className='reveal';b.textContent=d.show;b.setAttribute('aria-pressed','false');if(input.id)b.setAttribute('aria-controls',input.id);b.addEventListener('click',function(){var shown=input.type==='password';input.type=shown?'text':'password';b.textContent=shown?d.hide:d.show;b.setAttribute('aria-pressed',String(shown));});input.insertAdjacentElement('afterend',b);});";
const REVEAL_HASH = `'sha256-${createHash('sha256').update(REVEAL_SCRIPT).digest('base64')}'`;

export function page(options: { title: string; branding?: Branding; body: Html; lang?: Locale; wide?: boolean }): string {
  const brand = { ...DEFAULT_BRANDING, ...options.branding };
  const lang = options.lang ?? 'en';
  const t = withTexts(translator(lang), options.branding, lang);
  const logo = httpsUrl(brand.logo_url);
  const favicon = httpsUrl(brand.favicon_url);
  const reveals = options.body.value.includes('type="password"');
  return html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · ${brand.display_name}</title>
${favicon ? html`<link rel="icon" href="${favicon}">` : ''}
<style>
  ${trusted(palette(brand))}
  body { font-family: var(--font); background: var(--bg) var(--bg-image, none) center / cover fixed; color: var(--text); margin: 0; }
  main { max-width: 26rem; margin: 4rem auto; background: var(--card); padding: 2rem; border-radius: var(--radius); box-shadow: 0 1px 4px #0003; }
  main.wide { max-width: 56rem; }
  @media (max-width: 30rem) { main, main.wide { margin: 1rem .75rem; padding: 1.25rem 1rem; } }
  header { text-align: center; margin-bottom: 1.5rem; }
  header img { max-height: 3rem; max-width: 100%; }
  h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
  label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
  input[type=text], input[type=email], input[type=password], input[type=tel] { width: 100%; box-sizing: border-box; padding: .6rem; border: 1px solid var(--border); border-radius: calc(var(--radius) * .6); font-size: 1rem; background: var(--card); color: var(--text); }
  button { margin-top: 1.25rem; width: 100%; padding: .7rem; font-size: 1rem; border: 0; border-radius: calc(var(--radius) * .6); background: var(--primary); color: #fff; cursor: pointer; }
  button.secondary, button.reveal { background: var(--card); color: var(--text); border: 1px solid var(--border); }
  button.reveal { width: auto; margin: .35rem 0 0; padding: .3rem .7rem; font-size: .9rem; }
  button:focus, input:focus, a:focus { outline: 3px solid #ffbf47; outline-offset: 1px; }
  .error { background: var(--error-bg); color: var(--error); padding: .75rem; border-radius: calc(var(--radius) * .6); }
  ul.choices { list-style: none; padding: 0; }
  ul.choices li { margin: .5rem 0; }
  ul.codes { columns: 2; font-size: 1.1rem; }
  .factor { display: flex; justify-content: space-between; align-items: center; gap: .75rem; border-bottom: 1px solid var(--border); padding: .5rem 0; }
  .factor button { width: auto; margin: 0; padding: .4rem .8rem; }
  section { margin-top: 1.5rem; }
  h2 { font-size: 1.1rem; margin: 1rem 0 .25rem; }
  .qr { display: block; margin: 1rem auto; width: 12rem; height: 12rem; background: #fff; }
  small { color: var(--muted); }
  ul.links { list-style: none; padding: 0; margin-top: 1.5rem; }
  ul.links li { margin: .4rem 0; }
  a { color: var(--link); }
  .area { display: grid; grid-template-columns: 12rem 1fr; gap: 2rem; }
  .area nav ul { list-style: none; padding: 0; margin: 0; }
  .area nav li { margin: 0 0 .5rem; }
  .area nav a[aria-current=page] { font-weight: 700; text-decoration: none; }
  @media (max-width: 40rem) { .area { grid-template-columns: 1fr; gap: 1rem; } .area nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; } }
  .item { display: flex; align-items: center; gap: .75rem; }
  .item img { width: 2rem; height: 2rem; object-fit: contain; }
</style>
</head>
<body data-show="${t('common.show_password')}" data-hide="${t('common.hide_password')}">
<main${options.wide ? html` class="wide"` : ''}>
<header>
${logo ? html`<img src="${logo}" alt="${brand.display_name}">` : html`<strong>${brand.display_name}</strong>`}
</header>
${options.body}
</main>
${reveals ? html`<script>${trusted(REVEAL_SCRIPT)}</script>` : ''}
</body>
</html>`.value;
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'";
/** The one inline script of every page (REVEAL_SCRIPT) may run; no other. */
const PAGE_CSP = `${CSP}; script-src ${REVEAL_HASH}`;

/** Security headers for every hosted page: no framing (clickjacking), no caching, no sniffing. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy': PAGE_CSP,
  'referrer-policy': 'no-referrer',
} as const;

/**
 * What every answer of the OAuth engine starts with, so the pages it writes itself (its
 * auto-submitting forms) carry our pages' headers too (decision 207). The engine adds the
 * hash of its one inline script to a CSP that has a `script-src`, and a source list with
 * more in it than 'none' ignores 'none' (CSP 3): that script runs, no other.
 */
export const ENGINE_HEADERS = {
  'x-frame-options': 'DENY',
  'content-security-policy': `${CSP}; script-src 'none'`,
  'referrer-policy': 'no-referrer',
} as const;

/** The headers of a page with a script of ours (passkeys): only a script carrying this response's nonce runs. */
export const scriptPageHeaders = (nonce: string) => ({
  ...PAGE_HEADERS,
  'content-security-policy': `${CSP}; script-src 'nonce-${nonce}' ${REVEAL_HASH}`,
});

/**
 * Where a CAPTCHA provider's widget comes from (bot defence, decision 375): ALTCHA is
 * served by Gatehouse itself (its module script by nonce, its worker and stylesheet from
 * our origin); a third-party provider's script and frames come from its documented origins.
 */
const CAPTCHA_SOURCES: Record<string, { script: string; frame: string; connect: string }> = {
  altcha: { script: '', frame: '', connect: '' },
  turnstile: {
    script: 'https://challenges.cloudflare.com',
    frame: 'https://challenges.cloudflare.com',
    connect: 'https://challenges.cloudflare.com',
  },
  hcaptcha: {
    script: 'https://hcaptcha.com https://*.hcaptcha.com',
    frame: 'https://hcaptcha.com https://*.hcaptcha.com',
    connect: 'https://hcaptcha.com https://*.hcaptcha.com',
  },
  recaptcha: {
    script: 'https://www.google.com/recaptcha/ https://www.gstatic.com/recaptcha/',
    frame: 'https://www.google.com/recaptcha/ https://recaptcha.google.com/recaptcha/',
    connect: 'https://www.google.com/recaptcha/',
  },
};

/** The headers of a page that shows a CAPTCHA widget: our nonce'd script, plus exactly what the provider needs. */
export const challengePageHeaders = (nonce: string, provider: string) => {
  const sources = CAPTCHA_SOURCES[provider] ?? CAPTCHA_SOURCES.altcha!;
  const csp = [
    "default-src 'none'",
    "style-src 'self' 'unsafe-inline'",
    'img-src https: data:',
    "frame-ancestors 'none'",
    "base-uri 'none'",
    `script-src 'nonce-${nonce}' ${REVEAL_HASH} ${sources.script}`.trim(),
    "worker-src 'self'",
    ...(sources.frame ? [`frame-src ${sources.frame}`] : []),
    ...(sources.connect ? [`connect-src ${sources.connect}`] : []),
  ].join('; ');
  return { ...PAGE_HEADERS, 'content-security-policy': csp };
};

/** A fresh CSP nonce (128 random bits) for one response. */
export const newNonce = (): string => randomBytes(16).toString('base64url');

/** JSON for a `<script type="application/json">` data block: `<` escaped, so it cannot close the element. */
export const jsonBlock = (value: unknown): Html => new Html(JSON.stringify(value).replace(/</g, '\\u003c'));
