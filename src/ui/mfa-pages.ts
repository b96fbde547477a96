import type { FactorSummary } from '../mfa/index.js';
import { type Html, html, jsonBlock, page } from './html.js';
import type { PageContext } from './pages.js';

/**
 * The pages of the MFA step (hosted sign-in and account page): challenge, enrolment and
 * the recovery codes shown once. The code factors work without JavaScript; a passkey
 * needs the browser's WebAuthn API, so its button runs a small script allowed by the
 * response's CSP nonce. Strings stay together here so issue 5 can move them to a catalog.
 */

export const MFA_TEXT = {
  title: 'Two-step verification',
  wrongCode: 'That code is not right, or it has expired. Try again.',
  tooMany: 'Too many attempts. Wait a little and try again.',
  passkeyFailed: 'The passkey was not accepted. Try again or use another method.',
  enrolTitle: 'Set up two-step verification',
  codesTitle: 'Your recovery codes',
} as const;

const errorBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');

/** The form fields every MFA form carries. */
const hidden = (csrf: string, method: string) =>
  html`<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="method" value="${method}">`;

const codeInput = (label: string, error?: string) => html`<label for="code">${label}</label>
  <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" required autofocus${error ? html` aria-describedby="form-error"` : ''}>`;

export interface ChallengeContext extends PageContext {
  /** Where the forms post (`…/mfa`); `…/mfa/send` sends an email or SMS code. */
  action: string;
  csrf: string;
  factors: FactorSummary[];
  error?: string;
  /** Recovery-code mode (the "use a recovery code instead" link). */
  recovery?: boolean;
  /** A code was sent: its handle, and where it went. */
  sent?: { oobCode: string; destination: string };
  /** Passkey sign-in: the WebAuthn request options and this response's nonce. */
  passkey?: { options: unknown; nonce: string };
}

export function challengePage(ctx: ChallengeContext): string {
  return page({ ...ctx, title: MFA_TEXT.title, body: html`<h1>${MFA_TEXT.title}</h1>\n${errorBox(ctx.error)}\n${challengeBody(ctx)}` });
}

function challengeBody(ctx: ChallengeContext): Html {
  const back = html`<p><a href="${ctx.action}">Use another method</a></p>`;
  if (ctx.recovery) {
    return html`<form method="post" action="${ctx.action}" novalidate>
  ${hidden(ctx.csrf, 'recovery')}
  ${codeInput('Recovery code', ctx.error)}
  <button type="submit">Verify</button>
</form>
${back}`;
  }
  if (ctx.sent) {
    return html`<p>We sent a code to <strong>${ctx.sent.destination}</strong>.</p>
<form method="post" action="${ctx.action}" novalidate>
  ${hidden(ctx.csrf, 'oob')}
  <input type="hidden" name="oob_code" value="${ctx.sent.oobCode}">
  ${codeInput('Code', ctx.error)}
  <button type="submit">Verify</button>
</form>
${back}`;
  }
  const otp = ctx.factors.some((f) => f.type === 'otp');
  const oob = ctx.factors.filter((f) => f.type === 'email' || f.type === 'sms');
  const parts: Html[] = [];
  if (otp) {
    parts.push(html`<form method="post" action="${ctx.action}" novalidate>
  ${hidden(ctx.csrf, 'otp')}
  ${codeInput('Enter the code from your authenticator app', ctx.error)}
  <button type="submit">Verify</button>
</form>`);
  }
  for (const factor of oob) {
    parts.push(html`<form method="post" action="${ctx.action}/send">
  ${hidden(ctx.csrf, 'send')}
  <input type="hidden" name="factor_id" value="${factor.id}">
  <button type="submit" class="secondary">${factor.type === 'sms' ? 'Text a code to' : 'Email a code to'} ${factor.destination ?? 'you'}</button>
</form>`);
  }
  if (ctx.passkey) parts.push(passkeyForm(ctx.action, ctx.csrf, 'get', ctx.passkey, 'Use a passkey'));
  parts.push(html`<p><a href="${ctx.action}?method=recovery">Use a recovery code instead</a></p>`);
  return html`${parts}`;
}

/**
 * A passkey button: the script reads the WebAuthn options from a JSON data block, asks
 * the browser for a credential, and posts it back as JSON in the form's `response` field.
 */
export function passkeyForm(
  action: string,
  csrf: string,
  ceremony: 'get' | 'create',
  passkey: { options: unknown; nonce: string },
  label: string,
): Html {
  const parse = ceremony === 'get' ? 'parseRequestOptionsFromJSON' : 'parseCreationOptionsFromJSON';
  return html`<form method="post" action="${action}" id="passkey-form">
  ${hidden(csrf, 'passkey')}
  <input type="hidden" name="response" value="">
  <button type="button" id="passkey-button" class="secondary">${label}</button>
  <p class="error" role="alert" id="passkey-error" hidden>${MFA_TEXT.passkeyFailed}</p>
  <noscript><p><small>Passkeys need JavaScript.</small></p></noscript>
</form>
<script type="application/json" id="passkey-options">${jsonBlock(passkey.options)}</script>
<script nonce="${passkey.nonce}">
document.getElementById('passkey-button').addEventListener('click', async () => {
  const form = document.getElementById('passkey-form');
  try {
    const options = PublicKeyCredential.${parse}(JSON.parse(document.getElementById('passkey-options').textContent));
    const credential = await navigator.credentials.${ceremony}({ publicKey: options });
    form.elements.response.value = JSON.stringify(credential.toJSON());
    form.submit();
  } catch (error) {
    document.getElementById('passkey-error').hidden = false;
  }
});
</script>`;
}

export interface TotpEnrolment {
  factorId: string;
  secret: string;
  otpauthUri: string;
  qrCodeDataUrl: string;
}

/** Scan the QR code (or type the secret), then prove it with a code. */
export function totpEnrolForm(action: string, csrf: string, enrolment: TotpEnrolment, error?: string): Html {
  return html`<p>Scan this QR code with an authenticator app (Google Authenticator, 1Password, Authy…), then enter the code it shows.</p>
<img class="qr" src="${enrolment.qrCodeDataUrl}" alt="QR code for your authenticator app">
<p>Cannot scan it? Enter this key instead: <code id="totp-secret">${enrolment.secret}</code></p>
<form method="post" action="${action}" novalidate>
  ${hidden(csrf, 'enrol')}
  <input type="hidden" name="factor_id" value="${enrolment.factorId}">
  ${codeInput('Code from the app', error)}
  <button type="submit">Turn on</button>
</form>`;
}

export function enrolPage(ctx: PageContext & { action: string; csrf: string; enrolment: TotpEnrolment; error?: string }): string {
  return page({
    ...ctx,
    title: MFA_TEXT.enrolTitle,
    body: html`<h1>${MFA_TEXT.enrolTitle}</h1>
<p>Your organization asks for a second step when you sign in.</p>
${errorBox(ctx.error)}
${totpEnrolForm(ctx.action, ctx.csrf, ctx.enrolment, ctx.error)}`,
  });
}

/** Recovery codes, shown this once; then on: a form (that finishes the sign-in) or a link (back to the account page). */
export function recoveryCodesPage(ctx: PageContext & { codes: string[] } & ({ action: string; csrf: string } | { href: string })): string {
  const one = ctx.codes.length === 1;
  return page({
    ...ctx,
    title: MFA_TEXT.codesTitle,
    body: html`<h1>${one ? 'Your new recovery code' : MFA_TEXT.codesTitle}</h1>
<p>${one ? 'The code you used is spent; this one replaces it.' : 'If you lose your device, each of these codes signs you in once.'} Store ${one ? 'it' : 'them'} somewhere safe: ${one ? 'it is' : 'they are'} not shown again.</p>
<ul class="codes" id="recovery-codes">${ctx.codes.map((code) => html`<li><code>${code}</code></li>`)}</ul>
${
  'href' in ctx
    ? html`<p><a href="${ctx.href}" id="continue">Continue</a></p>`
    : html`<form method="post" action="${ctx.action}">
  ${hidden(ctx.csrf, 'continue')}
  <button type="submit" autofocus>Continue</button>
</form>`
}`,
  });
}
