import { AppError } from '../../platform/errors.js';
import { type Html, html, page } from '../../platform/web/html.js';
import type { PageLook } from '../kit/flow-kit.js';
import type { MessageKey } from '../kit/messages.js';

/**
 * The pages of account recovery and the forced password change: plain forms, one h1, a
 * label per input, errors in a role=alert box the input names with aria-describedby.
 */

const errorBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');
const describedBy = (message?: string) => (message ? html` aria-describedby="form-error"` : '');

export const framed = (look: PageLook, title: string, body: Html): string =>
  page({ title, body, lang: look.locale, ...(look.branding && { branding: look.branding }) });

/** A refused password (or another known form error) in the page's language. */
export function formError(look: PageLook, error: unknown): string | undefined {
  if (!(error instanceof AppError)) return undefined;
  if (error.code.startsWith('password_')) {
    const key = `password.${error.code.slice('password_'.length)}` as MessageKey;
    const text = look.t(key);
    return text === key ? look.t('password.invalid') : text;
  }
  if (error.code === 'link_invalid') return look.t('common.link_invalid');
  if (error.code === 'link_expired') return look.t('common.link_expired');
  if (error.code === 'csrf_failed') return look.t('common.form_expired');
  return undefined;
}

/** A new-password form (reset, forced change, invitation): hidden fields, one password input, a button. */
export function newPasswordForm(
  look: PageLook,
  options: { action: string; hidden: Record<string, string>; button: string; error?: string | undefined; username?: string },
): Html {
  return html`${errorBox(options.error)}
<form method="post" action="${options.action}" novalidate>
${Object.entries(options.hidden).map(([name, value]) => html`  <input type="hidden" name="${name}" value="${value}">\n`)}
${options.username ? html`  <input type="hidden" name="username" value="${options.username}" autocomplete="username">\n` : ''}
  <label for="password">${look.t('common.new_password')}</label>
  <input type="password" id="password" name="password" autocomplete="new-password" required autofocus${describedBy(options.error)}>
  <button type="submit">${options.button}</button>
</form>`;
}

export function recoveryRequestPage(
  look: PageLook,
  options: { action: string; csrf: string; back: string; email?: string; error?: string; captcha?: Html | '' },
): string {
  const title = look.t('recovery.title');
  return framed(
    look,
    title,
    html`<h1>${title}</h1>
<p>${look.t('recovery.intro')}</p>
${errorBox(options.error)}
<form method="post" action="${options.action}" novalidate>
  <input type="hidden" name="csrf" value="${options.csrf}">
  <label for="email">${look.t('common.email')}</label>
  <input type="email" id="email" name="email" value="${options.email ?? ''}" autocomplete="email" autocapitalize="none" required autofocus${describedBy(options.error)}>
  ${options.captcha ?? ''}
  <button type="submit">${look.t('recovery.send')}</button>
</form>
<ul class="links"><li><a href="${options.back}">${look.t('common.back_to_sign_in')}</a></li></ul>`,
  );
}

/** A page with a title, a message and a link onwards (sent, done, invalid link…). */
export function messagePage(
  look: PageLook,
  options: { title: string; message: string; alert?: boolean; link?: { href: string; label: string } },
): string {
  return framed(
    look,
    options.title,
    html`<h1>${options.title}</h1>
${options.alert ? html`<p class="error" role="alert">${options.message}</p>` : html`<p>${options.message}</p>`}
${options.link ? html`<p><a href="${options.link.href}">${options.link.label}</a></p>` : ''}`,
  );
}

export function resetPage(look: PageLook, options: { action: string; token: string; csrf: string; email: string; error?: string }): string {
  const title = look.t('recovery.reset_title');
  return framed(
    look,
    title,
    html`<h1>${title}</h1>
<p>${look.t('recovery.reset_intro', { email: options.email })}</p>
${newPasswordForm(look, {
  action: options.action,
  hidden: { token: options.token, csrf: options.csrf },
  button: look.t('recovery.save'),
  error: options.error,
  username: options.email,
})}`,
  );
}

export function forcedChangePage(
  look: PageLook,
  options: { action: string; flow: string; csrf: string; email: string; error?: string },
): string {
  const title = look.t('forced.title');
  return framed(
    look,
    title,
    html`<h1>${title}</h1>
<p>${look.t('forced.intro')}</p>
${newPasswordForm(look, {
  action: options.action,
  hidden: { flow: options.flow, csrf: options.csrf },
  button: look.t('forced.save'),
  error: options.error,
  username: options.email,
})}`,
  );
}
