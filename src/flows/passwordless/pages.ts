import { type Html, html, page } from '../../platform/web/html.js';
import type { PageLook } from '../kit/flow-kit.js';
import type { PasswordlessMethod } from './flow.js';

/**
 * The hosted passwordless pages: ask for a code or link, type the code, confirm a link,
 * and the refusals. No JavaScript; every input has its label; an error is announced
 * (role=alert) and tied to its input (aria-describedby).
 */
const frame = (look: PageLook, title: string, body: ReturnType<typeof html>) =>
  page({ title, body, lang: look.locale, ...(look.branding && { branding: look.branding }) });

const alertBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');
const describedBy = (error?: string) => (error ? html` aria-describedby="form-error"` : '');

export function passwordlessStartPage(ctx: {
  look: PageLook;
  action: string;
  csrf: string;
  methods: PasswordlessMethod[];
  login?: string;
  error?: string;
  notice?: string;
  /** The form the error belongs to. */
  errorIn?: 'email' | 'sms';
  passwordHref: string;
  /** The CAPTCHA widget of each form when bot defence asks for one (src/flows/kit/challenge-widget.ts). */
  captcha?: { email: Html | ''; sms: Html | '' };
}): string {
  const { t } = ctx.look;
  const email = ctx.methods.filter((m) => m !== 'sms_code');
  const sms = ctx.methods.includes('sms_code');
  const errorFor = (form: 'email' | 'sms') => (ctx.errorIn === form ? ctx.error : undefined);
  const login = (form: 'email' | 'sms') => (ctx.errorIn === form ? (ctx.login ?? '') : '');
  const first = email.length > 0 ? 'email' : 'sms';
  return frame(
    ctx.look,
    t('passwordless.title'),
    html`<h1>${t('passwordless.title')}</h1>
<p>${t('passwordless.intro')}</p>
${ctx.notice ? html`<p class="error" role="status">${ctx.notice}</p>` : ''}
${alertBox(ctx.error)}
${
  email.length > 0
    ? html`<section>
<h2>${t('passwordless.email_heading')}</h2>
<form method="post" action="${ctx.action}" novalidate>
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <label for="email-login">${t('passwordless.email_label')}</label>
  <input type="text" id="email-login" name="login" value="${login('email')}" autocomplete="username" autocapitalize="none" required${first === 'email' ? ' autofocus' : ''}${describedBy(errorFor('email'))}>
  ${ctx.captcha?.email ?? ''}
  ${email.includes('email_code') ? html`<button type="submit" name="method" value="email_code">${t('passwordless.send_code')}</button>` : ''}
  ${email.includes('email_link') ? html`<button type="submit" name="method" value="email_link"${email.includes('email_code') ? html` class="secondary"` : ''}>${t('passwordless.send_link')}</button>` : ''}
</form>
</section>`
    : ''
}
${
  sms
    ? html`<section>
<h2>${t('passwordless.sms_heading')}</h2>
<form method="post" action="${ctx.action}" novalidate>
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <label for="sms-login">${t('passwordless.sms_label')}</label>
  <input type="text" id="sms-login" name="login" value="${login('sms')}" autocomplete="username" autocapitalize="none" required aria-describedby="sms-hint${errorFor('sms') ? ' form-error' : ''}"${first === 'sms' ? ' autofocus' : ''}>
  <small id="sms-hint">${t('passwordless.sms_hint')}</small>
  ${ctx.captcha?.sms ?? ''}
  <button type="submit" name="method" value="sms_code">${t('passwordless.send_sms')}</button>
</form>
</section>`
    : ''
}
<ul class="links"><li><a href="${ctx.passwordHref}">${t('passwordless.use_password')}</a></li></ul>`,
  );
}

export function passwordlessSentPage(ctx: {
  look: PageLook;
  method: PasswordlessMethod;
  action: string;
  csrf: string;
  error?: string;
  startAgain?: string;
}): string {
  const { t } = ctx.look;
  const sent = {
    email_code: t('passwordless.sent_email_code'),
    email_link: t('passwordless.sent_email_link'),
    sms_code: t('passwordless.sent_sms_code'),
  }[ctx.method];
  return frame(
    ctx.look,
    t('passwordless.sent_title'),
    html`<h1>${t('passwordless.sent_title')}</h1>
<p>${sent}</p>
${alertBox(ctx.error)}
${
  ctx.method === 'email_link'
    ? ''
    : html`<form method="post" action="${ctx.action}" novalidate>
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <label for="code">${t('passwordless.code_label')}</label>
  <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]*" maxlength="10" required autofocus${describedBy(ctx.error)}>
  <button type="submit">${t('passwordless.sign_in')}</button>
</form>`
}
${ctx.startAgain ? html`<ul class="links"><li><a href="${ctx.startAgain}">${t('passwordless.start_again')}</a></li></ul>` : ''}`,
  );
}

/** The page an emailed link opens: one button that POSTs (mail scanners follow links, they do not press buttons). */
export function passwordlessLinkPage(ctx: { look: PageLook; action: string; csrf: string; token: string }): string {
  const { t } = ctx.look;
  return frame(
    ctx.look,
    t('passwordless.link_title'),
    html`<h1>${t('passwordless.link_title')}</h1>
<p>${t('passwordless.link_intro')}</p>
<form method="post" action="${ctx.action}">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <input type="hidden" name="token" value="${ctx.token}">
  <button type="submit" autofocus>${t('passwordless.sign_in')}</button>
</form>`,
  );
}

/** A refusal or a dead end, said plainly, with the way back when there is one. */
export function passwordlessMessagePage(ctx: { look: PageLook; title: string; message: string; back?: { href: string; label: string } }) {
  return frame(
    ctx.look,
    ctx.title,
    html`<h1>${ctx.title}</h1>
<p class="error" role="alert">${ctx.message}</p>
${ctx.back ? html`<ul class="links"><li><a href="${ctx.back.href}">${ctx.back.label}</a></li></ul>` : ''}`,
  );
}
