import { type Html, html, page } from '../../platform/web/html.js';
import type { PageLook } from '../kit/flow-kit.js';
import type { MessageKey } from '../kit/messages.js';
import type { ProfileField } from './registration.js';

/**
 * The hosted sign-up and email verification pages: plain forms, every word from the
 * catalog (src/i18n/messages/signup.ts), every error in a role=alert box the field it
 * concerns points to (aria-describedby).
 */
const frame = (look: PageLook, title: string, body: Html) =>
  page({ title, body, lang: look.locale, ...(look.branding && { branding: look.branding }) });

const alert = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');
const status = (message?: string) => (message ? html`<p role="status"><strong>${message}</strong></p>` : '');
const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;
const describedBy = (on: boolean) => (on ? html` aria-describedby="form-error" aria-invalid="true"` : '');

const FIELD_INPUT: Record<ProfileField, { type: string; autocomplete: string }> = {
  given_name: { type: 'text', autocomplete: 'given-name' },
  family_name: { type: 'text', autocomplete: 'family-name' },
  name: { type: 'text', autocomplete: 'name' },
  username: { type: 'text', autocomplete: 'username' },
  phone: { type: 'tel', autocomplete: 'tel' },
};

export interface SignupFormView {
  action: string;
  csrf: string;
  clientName: string;
  fields: { name: ProfileField; required: boolean }[];
  passwordMin: number;
  values?: Record<string, string>;
  /** The message and the field it concerns ('email', 'password' or a profile field). */
  error?: { message: string; field?: string };
  notice?: string;
  signInHref?: string | null;
  /** The CAPTCHA widget when bot defence asks for one (src/flows/kit/challenge-widget.ts). */
  captcha?: Html | '';
}

export function signupFormPage(look: PageLook, view: SignupFormView): string {
  const { t } = look;
  const wrong = (field: string) => view.error !== undefined && (view.error.field === field || (!view.error.field && field === 'email'));
  // Focus goes to the field that needs fixing (else the first one).
  const focusOn = view.error?.field ?? 'email';
  const autofocus = (field: string) => (field === focusOn ? ' autofocus' : '');
  const marker = (required: boolean) => html` <small>(${t(required ? 'signup.required' : 'signup.optional')})</small>`;
  const profile = view.fields.map(({ name, required }) => {
    const input = FIELD_INPUT[name];
    return html`<label for="${name}">${t(`signup.field.${name}` as MessageKey)}${marker(required)}</label>
  <input type="${input.type}" id="${name}" name="${name}" value="${view.values?.[name] ?? ''}" autocomplete="${input.autocomplete}"${required ? ' required' : ''}${autofocus(name)}${describedBy(wrong(name))}>`;
  });
  return frame(
    look,
    t('signup.title'),
    html`<h1>${t('signup.title')}</h1>
<p>${t('signup.intro', { app: view.clientName })}</p>
${status(view.notice)}
${alert(view.error?.message)}
<form method="post" action="${view.action}" novalidate>
  ${csrfField(view.csrf)}
  <label for="email">${t('common.email')}${marker(true)}</label>
  <input type="email" id="email" name="email" value="${view.values?.email ?? ''}" autocomplete="email" autocapitalize="none" required${autofocus('email')}${describedBy(wrong('email'))}>
  <label for="password">${t('common.password')}${marker(true)}</label>
  <input type="password" id="password" name="password" autocomplete="new-password" required${autofocus('password')} aria-describedby="password-hint${wrong('password') ? ' form-error' : ''}"${wrong('password') ? html` aria-invalid="true"` : ''}>
  <small id="password-hint">${t('signup.password_hint', { min: view.passwordMin })}</small>
  ${profile}
  ${view.captcha ?? ''}
  <button type="submit">${t('signup.submit')}</button>
</form>
${view.signInHref ? html`<ul class="links"><li><a href="${view.signInHref}">${t('signup.have_account')}</a></li></ul>` : ''}`,
  );
}

export interface CheckEmailView {
  action: string;
  resendAction: string;
  csrf: string;
  email: string;
  error?: string;
  notice?: string;
}

/** "Check your email": the code form, and a button for a new email. */
export function checkEmailPage(look: PageLook, view: CheckEmailView): string {
  const { t } = look;
  return frame(
    look,
    t('verify.check_title'),
    html`<h1>${t('verify.check_title')}</h1>
<p>${t('verify.check_intro', { email: view.email })}</p>
<p>${t('verify.check_hint')}</p>
${status(view.notice)}
${alert(view.error)}
<form method="post" action="${view.action}" novalidate>
  ${csrfField(view.csrf)}
  <label for="code">${t('verify.code_label')}</label>
  <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required autofocus${describedBy(Boolean(view.error))}>
  <button type="submit">${t('verify.code_submit')}</button>
</form>
<form method="post" action="${view.resendAction}">
  ${csrfField(view.csrf)}
  <button type="submit" class="secondary">${t('verify.resend_submit')}</button>
</form>`,
  );
}

/** The emailed link's page: a button that POSTs (mail scanners follow links; they do not submit forms). */
export function confirmLinkPage(look: PageLook, view: { token: string; email: string }): string {
  const { t } = look;
  return frame(
    look,
    t('verify.confirm_title'),
    html`<h1>${t('verify.confirm_title')}</h1>
<p>${t('verify.confirm_intro', { email: view.email })}</p>
<form method="post" action="/verify/link">
  <input type="hidden" name="token" value="${view.token}">
  <button type="submit" autofocus>${t('verify.confirm_submit')}</button>
</form>`,
  );
}

export function verifiedPage(look: PageLook): string {
  const { t } = look;
  return frame(look, t('verify.done_title'), html`<h1>${t('verify.done_title')}</h1><p role="status">${t('verify.done')}</p>`);
}

/** The sign-in refused for an unverified address: offers a new email. */
export function notVerifiedPage(look: PageLook, view: { resendAction: string; csrf: string }): string {
  const { t } = look;
  return frame(
    look,
    t('verify.not_verified_title'),
    html`<h1>${t('verify.not_verified_title')}</h1>
<p class="error" role="alert">${t('verify.not_verified')}</p>
<form method="post" action="${view.resendAction}">
  ${csrfField(view.csrf)}
  <button type="submit" autofocus>${t('verify.resend_submit')}</button>
</form>`,
  );
}

/** A page with one message: sign-up switched off, a dead link. */
export function messagePage(look: PageLook, view: { title: string; message: string; code?: string }): string {
  return frame(
    look,
    view.title,
    html`<h1>${view.title}</h1>
<p class="error" role="alert">${view.message}</p>
${view.code ? html`<p><small>${look.t('common.error_code', { code: view.code })}</small></p>` : ''}`,
  );
}
