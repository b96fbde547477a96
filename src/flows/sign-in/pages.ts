import type { MessageKey, Translate } from '../../platform/i18n/index.js';
import { type Html, html, rich } from '../../platform/web/html.js';
import { errorBox, framed, type PageContext, wordsOf } from '../../platform/web/pages.js';

export function signInPage(
  ctx: PageContext & {
    action: string;
    csrf: string;
    clientName: string;
    username?: string;
    error?: string;
    links?: { signup?: string; recovery?: string; passwordless?: string };
    /** A button per connection enabled for the application (src/flows/federation/begin.ts), each a POST with the form's CSRF token. */
    connections?: { action: string; label: string }[];
    /** The CAPTCHA widget when bot defence asks for one (src/flows/kit/challenge-widget.ts). */
    captcha?: Html | '';
  },
): string {
  const { t } = wordsOf(ctx);
  const connections = (ctx.connections ?? []).map(
    (c) => html`<form method="post" action="${c.action}" class="connection">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <button type="submit" class="secondary">${c.label}</button>
</form>`,
  );
  return framed(
    ctx,
    t('signin.title'),
    html`<h1>${t('signin.title')}</h1>
<p>${rich(t('signin.to_continue'), { client: html`<strong>${ctx.clientName}</strong>` })}</p>
${errorBox(ctx.error)}
<form method="post" action="${ctx.action}" novalidate>
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <label for="username">${t('signin.username')}</label>
  <input type="text" id="username" name="username" value="${ctx.username ?? ''}" autocomplete="username" autocapitalize="none" required autofocus${ctx.error ? html` aria-describedby="form-error"` : ''}>
  <label for="password">${t('common.password')}</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  ${ctx.captcha ?? ''}
  <button type="submit">${t('signin.submit')}</button>
</form>
${connections}
${signInLinkList(t, ctx.links)}`,
  );
}

function signInLinkList(t: Translate, links: { signup?: string; recovery?: string; passwordless?: string } | undefined) {
  if (!links) return '';
  const items = [
    links.passwordless && html`<li><a href="${links.passwordless}">${t('signin.passwordless')}</a></li>`,
    links.recovery && html`<li><a href="${links.recovery}">${t('signin.forgot')}</a></li>`,
    links.signup && html`<li><a href="${links.signup}">${t('signin.signup')}</a></li>`,
  ].filter(Boolean);
  return items.length > 0 ? html`<ul class="links">${items}</ul>` : '';
}

/** The sign-in page's words for a refusal by the brute-force protection (the same for every account). */
export function tooManyAttemptsText(t: Translate, retryAfter: unknown): string {
  const seconds = typeof retryAfter === 'number' ? retryAfter : 0;
  const n = Math.max(1, seconds);
  const wait =
    n === 1
      ? t('signin.wait_second')
      : n <= 90
        ? t('signin.wait_seconds', { n })
        : n <= 5400
          ? t('signin.wait_minutes', { n: Math.ceil(n / 60) })
          : t('signin.wait_long');
  return t('signin.too_many', { wait });
}

export function organizationPage(
  ctx: PageContext & { action: string; csrf: string; clientName: string; organizations: { id: string; name: string }[]; error?: string },
): string {
  const { t } = wordsOf(ctx);
  const choices = ctx.organizations.map(
    (org, i) =>
      html`<li><button type="submit" name="organization" value="${org.id}"${i === 0 ? ' autofocus' : ''}>${org.name}</button></li>`,
  );
  return framed(
    ctx,
    t('org.title'),
    html`<h1>${t('org.title')}</h1>
<p>${rich(t('org.intro'), { client: html`<strong>${ctx.clientName}</strong>` })}</p>
${errorBox(ctx.error)}
${
  ctx.organizations.length === 0
    ? html`<p class="error" role="alert">${t('org.none')}</p>`
    : html`<form method="post" action="${ctx.action}">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <ul class="choices">${choices}</ul>
</form>`
}`,
  );
}

/** The consent page's words for the standard scopes; other scopes show as they are. */
const SCOPE_TEXT: Record<string, MessageKey> = {
  openid: 'consent.scope_openid',
  profile: 'consent.scope_profile',
  email: 'consent.scope_email',
  offline_access: 'consent.scope_offline_access',
};

export function consentPage(
  ctx: PageContext & {
    action: string;
    csrf: string;
    clientName: string;
    scopes: string[];
    apiScopes: { audience: string; scopes: string[] }[];
    organization?: { id: string; name: string };
  },
): string {
  const { t } = wordsOf(ctx);
  const items: Html[] = [
    ...ctx.scopes.map((scope) => {
      const key = SCOPE_TEXT[scope];
      return html`<li>${key ? t(key) : scope}</li>`;
    }),
    ...ctx.apiScopes.flatMap(({ audience, scopes }) =>
      scopes.map((scope) => html`<li><code>${scope}</code> <small>${t('consent.at', { audience })}</small></li>`),
    ),
  ];
  return framed(
    ctx,
    t('consent.title'),
    html`<h1>${t('consent.heading')}</h1>
<p>${rich(t('consent.asks'), { client: html`<strong>${ctx.clientName}</strong>` })}</p>
<ul>${items.length > 0 ? items : html`<li>${t('consent.scope_openid')}</li>`}</ul>
${ctx.organization ? html`<p>${rich(t('consent.for_org'), { organization: html`<strong>${ctx.organization.name}</strong>` })}</p>` : ''}
<form method="post" action="${ctx.action}">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  ${ctx.organization ? html`<input type="hidden" name="organization" value="${ctx.organization.id}">` : ''}
  <button type="submit" name="decision" value="allow" autofocus>${t('consent.allow')}</button>
  <button type="submit" name="decision" value="deny" class="secondary">${t('consent.deny')}</button>
</form>`,
  );
}
