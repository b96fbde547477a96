import type { FactorSummary } from '../../authn/mfa/index.js';
import { type Html, html, page } from '../../platform/web/html.js';
import type { PageContext } from '../../platform/web/pages.js';
import type { Translate } from '../kit/messages.js';
import { passkeyForm, type TotpEnrolment, totpEnrolForm } from '../sign-in/mfa-pages.js';
import { accountNav, csrfField, errorBox, noticeBox } from './area-pages.js';

/**
 * The hosted account page for a user's second factors (/account/security) and the account
 * area's own sign-in form. Every word comes from the catalog (src/i18n/messages/account.ts).
 */
export interface AccountPageContext extends PageContext {
  t: Translate;
}

/** A translated sentence whose placeholder (marked \u0000) shows `value` in bold. */
export function strong(sentence: string, value: string): Html {
  const [before = '', after = ''] = sentence.split('\u0000');
  return html`${before}<strong>${value}</strong>${after}`;
}

const FACTOR_NAMES = {
  otp: 'account.factor_otp',
  email: 'account.factor_email',
  sms: 'account.factor_sms',
  webauthn: 'account.factor_webauthn',
  'recovery-code': 'account.factor_recovery',
} as const;

export function accountSignInPage(
  ctx: AccountPageContext & { action: string; csrf: string; username?: string; error?: string; captcha?: Html | '' },
): string {
  const { t } = ctx;
  return page({
    ...ctx,
    title: t('account.sign_in_title'),
    body: html`<h1>${t('account.sign_in_title')}</h1>
<p>${t('account.sign_in_subtitle')}</p>
${errorBox(ctx.error)}
<form method="post" action="${ctx.action}" novalidate>
  ${csrfField(ctx.csrf)}
  <label for="username">${t('account.sign_in_username')}</label>
  <input type="text" id="username" name="username" value="${ctx.username ?? ''}" autocomplete="username" autocapitalize="none" required autofocus${ctx.error ? html` aria-describedby="form-error"` : ''}>
  <label for="password">${t('common.password')}</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  ${ctx.captcha ?? ''}
  <button type="submit">${t('account.sign_in_button')}</button>
</form>`,
  });
}

export interface SecurityPageContext extends AccountPageContext {
  csrf: string;
  email: string;
  factors: FactorSummary[];
  /** The factor types the user's tenant allows to add. */
  allowed: string[];
  /** The WebAuthn creation options for the "add a passkey" button, and this response's nonce. */
  passkey?: { options: unknown; nonce: string };
  required: boolean;
  error?: string;
  notice?: string;
}

export function securityPage(ctx: SecurityPageContext): string {
  const { t } = ctx;
  const confirmed = ctx.factors.filter((f) => f.confirmed);
  const rows: Html[] = confirmed.map((factor) => {
    const label = html`<span><strong>${t(FACTOR_NAMES[factor.type])}</strong>${factor.destination ? html` · ${factor.destination}` : ''}${factor.name ? html` · ${factor.name}` : ''}</span>`;
    if (factor.type === 'recovery-code') return html`<li class="factor">${label}</li>`;
    return html`<li class="factor">${label}
  <form method="post" action="/account/security/remove">${csrfField(ctx.csrf)}<input type="hidden" name="factor_id" value="${factor.id}"><button type="submit" class="secondary" aria-label="${t('account.factor_remove_label', { factor: t(FACTOR_NAMES[factor.type]) })}">${t('account.factor_remove')}</button></form>
</li>`;
  });
  const hasFactor = confirmed.some((f) => f.type !== 'recovery-code');
  return page({
    ...ctx,
    title: t('account.security_title'),
    body: html`<h1>${t('account.security_title')}</h1>
<p>${strong(t('account.signed_in_as', { email: '\u0000' }), ctx.email)}</p>
${errorBox(ctx.error)}
${noticeBox(ctx.notice)}
${ctx.required && !hasFactor ? html`<p role="status">${t('account.mfa_required')}</p>` : ''}
<section>
<h2>${t('account.mfa_title')}</h2>
${rows.length > 0 ? html`<ul class="choices" id="factors">${rows}</ul>` : html`<p id="factors">${t('account.factors_none')}</p>`}
</section>
<section>
<h2>${t('account.factor_add_title')}</h2>
${ctx.allowed.includes('otp') ? html`<form method="post" action="/account/security/totp">${csrfField(ctx.csrf)}<button type="submit">${t('account.factor_add_otp')}</button></form>` : ''}
${ctx.passkey ? passkeyForm('/account/security/passkey', ctx.csrf, 'create', ctx.passkey, t('account.factor_add_passkey')) : ''}
${ctx.allowed.includes('email') ? html`<form method="post" action="/account/security/email">${csrfField(ctx.csrf)}<button type="submit" class="secondary">${t('account.factor_add_email')}</button></form>` : ''}
${
  ctx.allowed.includes('sms')
    ? html`<form method="post" action="/account/security/sms" novalidate>
  ${csrfField(ctx.csrf)}
  <label for="phone_number">${t('account.factor_phone')}</label>
  <input type="tel" id="phone_number" name="phone_number" autocomplete="tel">
  <button type="submit" class="secondary">${t('account.factor_add_sms')}</button>
</form>`
    : ''
}
</section>
${
  hasFactor
    ? html`<section>
<h2>${t('account.recovery_title')}</h2>
<form method="post" action="/account/security/recovery-codes">${csrfField(ctx.csrf)}<button type="submit" class="secondary">${t('account.recovery_new')}</button></form>
</section>`
    : ''
}
${accountNav(t, 'security')}`,
  });
}

/** Scan and confirm a new authenticator app. */
export function addTotpPage(ctx: AccountPageContext & { csrf: string; enrolment: TotpEnrolment; error?: string }): string {
  const { t } = ctx;
  return page({
    ...ctx,
    title: t('account.factor_add_otp'),
    body: html`<h1>${t('account.factor_add_otp')}</h1>
${errorBox(ctx.error)}
${totpEnrolForm('/account/security/confirm', ctx.csrf, ctx.enrolment, ctx.error)}
<p><a href="/account/security">${t('common.cancel')}</a></p>`,
  });
}

/** Type the code sent to the new email address or phone. */
export function confirmOobPage(
  ctx: AccountPageContext & { csrf: string; factorId: string; oobCode: string; destination: string; error?: string },
): string {
  const { t } = ctx;
  return page({
    ...ctx,
    title: t('account.oob_title'),
    body: html`<h1>${t('account.oob_title')}</h1>
<p>${strong(t('account.oob_sent', { destination: '\u0000' }), ctx.destination)}</p>
${errorBox(ctx.error)}
<form method="post" action="/account/security/confirm" novalidate>
  ${csrfField(ctx.csrf)}
  <input type="hidden" name="method" value="oob">
  <input type="hidden" name="factor_id" value="${ctx.factorId}">
  <input type="hidden" name="oob_code" value="${ctx.oobCode}">
  <label for="code">${t('common.code')}</label>
  <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus${ctx.error ? html` aria-describedby="form-error"` : ''}>
  <button type="submit">${t('account.oob_confirm')}</button>
</form>
<p><a href="/account/security">${t('common.cancel')}</a></p>`,
  });
}
