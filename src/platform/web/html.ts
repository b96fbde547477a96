import { randomBytes } from 'node:crypto';

/**
 * Server-rendered hosted pages: plain HTML forms that work without JavaScript. Every
 * value is escaped on the way in; branding comes from the application's tenant.
 */

/**
 * A tenant's branding, as its pages and emails are drawn (stored in `tenants.branding`, read
 * by src/directory/branding/branding.ts): declared here, the lowest layer that renders it.
 */
export interface Branding {
  display_name?: string;
  logo_url?: string;
  primary_color?: string;
}

export const DEFAULT_BRANDING = { display_name: 'Gatehouse', primary_color: '#1f4fd1' } as const;

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

export function page(options: { title: string; branding?: Branding; body: Html; lang?: string }): string {
  const brand = { ...DEFAULT_BRANDING, ...options.branding };
  const color = /^#[0-9a-fA-F]{6}$/.test(brand.primary_color) ? brand.primary_color : DEFAULT_BRANDING.primary_color;
  return html`<!doctype html>
<html lang="${options.lang ?? 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · ${brand.display_name}</title>
<style>
  :root { --primary: ${color}; }
  body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1a1a1a; margin: 0; }
  main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: .5rem; box-shadow: 0 1px 4px #0002; }
  header { text-align: center; margin-bottom: 1.5rem; }
  header img { max-height: 3rem; }
  h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
  label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
  input[type=text], input[type=email], input[type=password], input[type=tel] { width: 100%; box-sizing: border-box; padding: .6rem; border: 1px solid #767676; border-radius: .3rem; font-size: 1rem; }
  button { margin-top: 1.25rem; width: 100%; padding: .7rem; font-size: 1rem; border: 0; border-radius: .3rem; background: var(--primary); color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: #1a1a1a; border: 1px solid #767676; }
  button:focus, input:focus { outline: 3px solid #ffbf47; outline-offset: 1px; }
  .error { background: #fdecea; color: #8a1c13; padding: .75rem; border-radius: .3rem; }
  ul.choices { list-style: none; padding: 0; }
  ul.choices li { margin: .5rem 0; }
  ul.codes { columns: 2; font-size: 1.1rem; }
  .factor { display: flex; justify-content: space-between; align-items: center; border-bottom: 1px solid #ddd; padding: .5rem 0; }
  .factor button { width: auto; margin: 0; padding: .4rem .8rem; }
  section { margin-top: 1.5rem; }
  h2 { font-size: 1.1rem; margin: 1rem 0 .25rem; }
  .qr { display: block; margin: 1rem auto; width: 12rem; height: 12rem; }
  small { color: #555; }
  ul.links { list-style: none; padding: 0; margin-top: 1.5rem; }
  ul.links li { margin: .4rem 0; }
  a { color: #1a4fc4; }
</style>
</head>
<body>
<main>
<header>
${brand.logo_url ? html`<img src="${brand.logo_url}" alt="${brand.display_name}">` : html`<strong>${brand.display_name}</strong>`}
</header>
${options.body}
</main>
</body>
</html>`.value;
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'";

/** Security headers for every hosted page: no framing (clickjacking), no caching, no sniffing. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy': CSP,
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
export const scriptPageHeaders = (nonce: string) => ({ ...PAGE_HEADERS, 'content-security-policy': `${CSP}; script-src 'nonce-${nonce}'` });

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
    `script-src 'nonce-${nonce}' ${sources.script}`.trim(),
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
