import { html } from '../../platform/web/html.js';
import type { PageLook } from '../kit/flow-kit.js';
import { framed, newPasswordForm } from '../recovery/pages.js';

/** The invitation link's pages: set the first password, or join a tenant signed in. */

export function activatePage(
  look: PageLook,
  options: { action: string; token: string; csrf: string; email: string; brand: string; error?: string },
): string {
  const title = look.t('invitation.title', { brand: options.brand });
  return framed(
    look,
    title,
    html`<h1>${title}</h1>
<p>${look.t('invitation.set_password_intro', { email: options.email })}</p>
${newPasswordForm(look, {
  action: options.action,
  hidden: { token: options.token, csrf: options.csrf },
  button: look.t('invitation.activate'),
  error: options.error,
  username: options.email,
})}`,
  );
}

/** Join a tenant: an Accept button for the invited account, else how to get there. */
export function joinPage(
  look: PageLook,
  options: {
    action: string;
    token: string;
    csrf: string;
    email: string;
    tenant: string;
    brand: string;
    status: 'ready' | 'sign_in' | 'wrong_account';
  },
): string {
  const title = look.t('invitation.title', { brand: options.brand });
  const intro = html`<p>${look.t('invitation.join_intro', { tenant: options.tenant, email: options.email })}</p>`;
  const body =
    options.status === 'ready'
      ? html`<form method="post" action="${options.action}">
  <input type="hidden" name="token" value="${options.token}">
  <input type="hidden" name="csrf" value="${options.csrf}">
  <button type="submit" autofocus>${look.t('invitation.accept')}</button>
</form>`
      : options.status === 'wrong_account'
        ? html`<p class="error" role="alert">${look.t('invitation.wrong_account', { email: options.email })}</p>`
        : html`<p>${look.t('invitation.join_sign_in', { email: options.email })}</p>
<p><a href="/account/sign-in">${look.t('invitation.sign_in')}</a></p>`;
  return framed(look, title, html`<h1>${title}</h1>${intro}${body}`);
}
