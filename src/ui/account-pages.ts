import type { FactorSummary } from '../mfa/index.js';
import { type Html, html, page } from './html.js';
import { passkeyForm, type TotpEnrolment, totpEnrolForm } from './mfa-pages.js';
import type { PageContext } from './pages.js';

/**
 * The hosted account page for a user's second factors (/account/security) and its own
 * sign-in form. Strings stay together here so issue 5 can move them to a catalog.
 */

const FACTOR_NAMES: Record<FactorSummary['type'], string> = {
  otp: 'Authenticator app',
  email: 'Email codes',
  sms: 'Text message codes',
  webauthn: 'Passkey',
  'recovery-code': 'Recovery codes',
};

const errorBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');
const notice = (message?: string) => (message ? html`<p role="status"><strong>${message}</strong></p>` : '');
const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

export function accountSignInPage(ctx: PageContext & { action: string; csrf: string; username?: string; error?: string }): string {
  return page({
    ...ctx,
    title: 'Sign in',
    body: html`<h1>Sign in</h1>
<p>to manage your account</p>
${errorBox(ctx.error)}
<form method="post" action="${ctx.action}" novalidate>
  ${csrfField(ctx.csrf)}
  <label for="username">Email or username</label>
  <input type="text" id="username" name="username" value="${ctx.username ?? ''}" autocomplete="username" autocapitalize="none" required autofocus>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`,
  });
}

export interface SecurityPageContext extends PageContext {
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
  const confirmed = ctx.factors.filter((f) => f.confirmed);
  const rows: Html[] = confirmed.map((factor) => {
    const label = html`<span><strong>${FACTOR_NAMES[factor.type]}</strong>${factor.destination ? html` · ${factor.destination}` : ''}${factor.name ? html` · ${factor.name}` : ''}</span>`;
    if (factor.type === 'recovery-code') return html`<li class="factor">${label}</li>`;
    return html`<li class="factor">${label}
  <form method="post" action="/account/security/remove">${csrfField(ctx.csrf)}<input type="hidden" name="factor_id" value="${factor.id}"><button type="submit" class="secondary">Remove</button></form>
</li>`;
  });
  const hasFactor = confirmed.some((f) => f.type !== 'recovery-code');
  return page({
    ...ctx,
    title: 'Sign-in and security',
    body: html`<h1>Sign-in and security</h1>
<p>Signed in as <strong>${ctx.email}</strong></p>
${errorBox(ctx.error)}
${notice(ctx.notice)}
${ctx.required && !hasFactor ? html`<p role="status">Your organization requires two-step verification: add a method below.</p>` : ''}
<section>
<h2>Two-step verification</h2>
${rows.length > 0 ? html`<ul class="choices" id="factors">${rows}</ul>` : html`<p id="factors">No methods yet.</p>`}
</section>
<section>
<h2>Add a method</h2>
${ctx.allowed.includes('otp') ? html`<form method="post" action="/account/security/totp">${csrfField(ctx.csrf)}<button type="submit">Add an authenticator app</button></form>` : ''}
${ctx.passkey ? passkeyForm('/account/security/passkey', ctx.csrf, 'create', ctx.passkey, 'Add a passkey') : ''}
${ctx.allowed.includes('email') ? html`<form method="post" action="/account/security/email">${csrfField(ctx.csrf)}<button type="submit" class="secondary">Add email codes</button></form>` : ''}
${
  ctx.allowed.includes('sms')
    ? html`<form method="post" action="/account/security/sms" novalidate>
  ${csrfField(ctx.csrf)}
  <label for="phone_number">Phone number (international format, +…)</label>
  <input type="tel" id="phone_number" name="phone_number" autocomplete="tel">
  <button type="submit" class="secondary">Add text message codes</button>
</form>`
    : ''
}
</section>
${
  hasFactor
    ? html`<section>
<h2>Recovery codes</h2>
<form method="post" action="/account/security/recovery-codes">${csrfField(ctx.csrf)}<button type="submit" class="secondary">Get new recovery codes</button></form>
</section>`
    : ''
}`,
  });
}

/** Scan and confirm a new authenticator app. */
export function addTotpPage(ctx: PageContext & { csrf: string; enrolment: TotpEnrolment; error?: string }): string {
  return page({
    ...ctx,
    title: 'Add an authenticator app',
    body: html`<h1>Add an authenticator app</h1>
${errorBox(ctx.error)}
${totpEnrolForm('/account/security/confirm', ctx.csrf, ctx.enrolment, ctx.error)}
<p><a href="/account/security">Cancel</a></p>`,
  });
}

/** Type the code sent to the new email address or phone. */
export function confirmOobPage(
  ctx: PageContext & { csrf: string; factorId: string; oobCode: string; destination: string; error?: string },
): string {
  return page({
    ...ctx,
    title: 'Confirm',
    body: html`<h1>Enter the code</h1>
<p>We sent a code to <strong>${ctx.destination}</strong>.</p>
${errorBox(ctx.error)}
<form method="post" action="/account/security/confirm" novalidate>
  ${csrfField(ctx.csrf)}
  <input type="hidden" name="method" value="oob">
  <input type="hidden" name="factor_id" value="${ctx.factorId}">
  <input type="hidden" name="oob_code" value="${ctx.oobCode}">
  <label for="code">Code</label>
  <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">Confirm</button>
</form>
<p><a href="/account/security">Cancel</a></p>`,
  });
}
