import { html, page, rich } from '../../platform/web/html.js';
import type { PageLook } from '../kit/flow-kit.js';

/**
 * The hosted pages of a sign-in through a connection: the proof of an existing account
 * before a link, a directory connection's username and password, and the refusals. No
 * JavaScript; errors are announced (role=alert) and tied to their input.
 */
const frame = (look: PageLook, title: string, body: ReturnType<typeof html>) =>
  page({ title, body, lang: look.locale, ...(look.branding && { branding: look.branding }) });
const alertBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');
/** The way back: to the sign-in of an interaction, or to the account page a link started from. */
const backLink = (t: PageLook['t'], back: string) =>
  html`<ul class="links"><li><a href="${back}">${back.startsWith('/account/') ? t('federation.back_to_account') : t('common.back_to_sign_in')}</a></li></ul>`;
const describedBy = (error?: string) => (error ? html` aria-describedby="form-error"` : '');

/** An account with the provider's email exists: its password before the identity is linked. */
export function linkPage(ctx: { look: PageLook; action: string; csrf: string; email: string; connection: string; error?: string }): string {
  const { t } = ctx.look;
  return frame(
    ctx.look,
    t('federation.link_title'),
    html`<h1>${t('federation.link_title')}</h1>
<p>${t('federation.link_intro', { email: ctx.email, name: ctx.connection })}</p>
${alertBox(ctx.error)}
<form method="post" action="${ctx.action}" novalidate>
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <input type="hidden" name="username" value="${ctx.email}" autocomplete="username">
  <label for="password">${t('common.password')}</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required autofocus${describedBy(ctx.error)}>
  <button type="submit">${t('federation.link_submit')}</button>
</form>`,
  );
}

/** A directory connection (`ad`): its own username and password form. */
export function directoryPage(ctx: {
  look: PageLook;
  action: string;
  csrf: string;
  connection: string;
  username?: string;
  error?: string;
  back: string;
}): string {
  const { t } = ctx.look;
  const title = t('federation.directory_title', { name: ctx.connection });
  return frame(
    ctx.look,
    title,
    html`<h1>${title}</h1>
${alertBox(ctx.error)}
<form method="post" action="${ctx.action}" novalidate>
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <label for="username">${t('federation.directory_username')}</label>
  <input type="text" id="username" name="username" value="${ctx.username ?? ''}" autocomplete="username" autocapitalize="none" required autofocus${describedBy(ctx.error)}>
  <label for="password">${t('common.password')}</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <button type="submit">${t('signin.submit')}</button>
</form>
${backLink(t, ctx.back)}`,
  );
}

/** A refusal: the error's sentence, its code, and the way back to the sign-in when there is one. */
export function refusalPage(ctx: { look: PageLook; message: string; code: string; back?: string }): string {
  const { t } = ctx.look;
  return frame(
    ctx.look,
    t('federation.error_title'),
    html`<h1>${t('federation.error_title')}</h1>
<p class="error" role="alert">${ctx.message}</p>
<p><small>${rich(t('common.error_code'), { code: html`<code>${ctx.code}</code>` })}</small></p>
${ctx.back ? backLink(t, ctx.back) : ''}`,
  );
}
