import { DEFAULT_LOCALE, type Locale, type MessageKey, type Translate, translator } from '../../platform/i18n/index.js';
import { type Branding, type Html, html, page, rich, trusted } from '../../platform/web/html.js';

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
  return { t: ctx.t ?? translator(lang), lang };
}

/** The frame of a page in its language. */
export const framed = (ctx: PageContext, title: string, body: Html): string =>
  page({ ...(ctx.branding && { branding: ctx.branding }), lang: wordsOf(ctx).lang, title, body });

const errorBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');

export function signInPage(
  ctx: PageContext & {
    action: string;
    csrf: string;
    clientName: string;
    username?: string;
    error?: string;
    links?: { signup?: string; recovery?: string; passwordless?: string };
  },
): string {
  const { t } = wordsOf(ctx);
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
  <button type="submit">${t('signin.submit')}</button>
</form>
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

/** Sign-out confirmation: the engine's form (with its own CSRF field) and our buttons. */
/**
 * The sign-out page: a confirmation, or (`autoSubmitNonce`: a sign-out that needs no click,
 * decision 206) the same page pressing its own button, with a script this response's CSP
 * nonce allows.
 */
export function logoutPage(ctx: PageContext & { form?: string; clientName?: string; autoSubmitNonce?: string }): string {
  const { t } = wordsOf(ctx);
  if (!ctx.form) {
    return framed(ctx, t('logout.done_title'), html`<h1>${t('logout.done_heading')}</h1><p>${t('logout.close')}</p>`);
  }
  return framed(
    ctx,
    t('logout.title'),
    html`<h1>${t('logout.heading')}</h1>
<p>${ctx.clientName ? rich(t('logout.client_asks'), { client: html`<strong>${ctx.clientName}</strong>` }) : t('logout.ask')}</p>
${trusted(ctx.form)}
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="sign-out" autofocus>${t('logout.submit')}</button>
<button type="submit" form="op.logoutForm" class="secondary">${t('logout.stay')}</button>
${ctx.autoSubmitNonce ? html`<script nonce="${ctx.autoSubmitNonce}">document.getElementById('sign-out').click()</script>` : ''}`,
  );
}

export function devicePage(
  ctx: PageContext & { step: 'input' | 'confirm' | 'success'; form?: string; clientName?: string; userCode?: string; error?: string },
): string {
  const { t } = wordsOf(ctx);
  if (ctx.step === 'success') {
    return framed(ctx, t('device.success_title'), html`<h1>${t('device.success_heading')}</h1><p>${t('device.success')}</p>`);
  }
  if (ctx.step === 'confirm') {
    return framed(
      ctx,
      t('device.confirm_title'),
      html`<h1>${t('device.confirm_heading')}</h1>
<p>${rich(t('device.confirm_text'), { client: html`<strong>${ctx.clientName}</strong>` })}</p>
<p><code style="font-size:1.5rem">${ctx.userCode}</code></p>
${trusted(ctx.form ?? '')}
<button type="submit" form="op.deviceConfirmForm" autofocus>${t('common.continue')}</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" class="secondary">${t('common.cancel')}</button>`,
    );
  }
  return framed(
    ctx,
    t('device.input_title'),
    html`<h1>${t('device.input_title')}</h1>
${errorBox(ctx.error)}
${trusted(ctx.form ?? '')}
<label for="user_code">${t('device.code_label')}</label>
<input type="text" id="user_code" name="user_code" form="op.deviceInputForm" autocomplete="off" autocapitalize="characters" required autofocus>
<button type="submit" form="op.deviceInputForm">${t('common.continue')}</button>`,
  );
}
