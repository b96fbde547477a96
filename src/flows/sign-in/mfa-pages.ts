import type { FactorSummary } from '../../authn/mfa/index.js';
import { type Translate, translator } from '../../platform/i18n/index.js';
import { type Html, html, jsonBlock, rich } from '../../platform/web/html.js';
import { framed, type PageContext, wordsOf } from '../../platform/web/pages.js';

/**
 * The pages of the MFA step (hosted sign-in and account page): challenge, enrolment and
 * the recovery codes shown once, in the page's language (src/i18n/messages/mfa.ts). The
 * code factors work without JavaScript; a passkey needs the browser's WebAuthn API, so its
 * button runs a small script allowed by the response's CSP nonce.
 */

const ENGLISH = translator('en');

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
  sent?: { oobCode: string; destination?: string };
  /** Passkey sign-in: the WebAuthn request options and this response's nonce. */
  passkey?: { options: unknown; nonce: string };
  /** The CAPTCHA widget of the "send a code" forms when bot defence asks for one (src/flows/kit/challenge-widget.ts). */
  captcha?: Html | '';
}

export function challengePage(ctx: ChallengeContext): string {
  const { t } = wordsOf(ctx);
  return framed(ctx, t('mfa.title'), html`<h1>${t('mfa.title')}</h1>\n${errorBox(ctx.error)}\n${challengeBody(t, ctx)}`);
}

function challengeBody(t: Translate, ctx: ChallengeContext): Html {
  const back = html`<p><a href="${ctx.action}">${t('mfa.other_method')}</a></p>`;
  if (ctx.recovery) {
    return html`<form method="post" action="${ctx.action}" novalidate>
  ${hidden(ctx.csrf, 'recovery')}
  ${codeInput(t('mfa.recovery_label'), ctx.error)}
  <button type="submit">${t('mfa.verify')}</button>
</form>
${back}`;
  }
  if (ctx.sent) {
    const destination = html`<strong>${ctx.sent.destination ?? t('mfa.you')}</strong>`;
    return html`<p>${rich(t('mfa.sent_to'), { destination })}</p>
<form method="post" action="${ctx.action}" novalidate>
  ${hidden(ctx.csrf, 'oob')}
  <input type="hidden" name="oob_code" value="${ctx.sent.oobCode}">
  ${codeInput(t('common.code'), ctx.error)}
  <button type="submit">${t('mfa.verify')}</button>
</form>
${back}`;
  }
  const otp = ctx.factors.some((f) => f.type === 'otp');
  const oob = ctx.factors.filter((f) => f.type === 'email' || f.type === 'sms');
  const parts: Html[] = [];
  if (otp) {
    parts.push(html`<form method="post" action="${ctx.action}" novalidate>
  ${hidden(ctx.csrf, 'otp')}
  ${codeInput(t('mfa.otp_label'), ctx.error)}
  <button type="submit">${t('mfa.verify')}</button>
</form>`);
  }
  for (const factor of oob) {
    parts.push(html`<form method="post" action="${ctx.action}/send">
  ${hidden(ctx.csrf, 'send')}
  <input type="hidden" name="factor_id" value="${factor.id}">
  ${ctx.captcha ?? ''}
  <button type="submit" class="secondary">${t(factor.type === 'sms' ? 'mfa.send_sms' : 'mfa.send_email', { destination: factor.destination ?? t('mfa.you') })}</button>
</form>`);
  }
  if (ctx.passkey) parts.push(passkeyForm(ctx.action, ctx.csrf, 'get', ctx.passkey, t('mfa.use_passkey'), t));
  parts.push(html`<p><a href="${ctx.action}?method=recovery">${t('mfa.use_recovery')}</a></p>`);
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
  t: Translate = ENGLISH,
): Html {
  const parse = ceremony === 'get' ? 'parseRequestOptionsFromJSON' : 'parseCreationOptionsFromJSON';
  return html`<form method="post" action="${action}" id="passkey-form">
  ${hidden(csrf, 'passkey')}
  <input type="hidden" name="response" value="">
  <button type="button" id="passkey-button" class="secondary">${label}</button>
  <p class="error" role="alert" id="passkey-error" hidden>${t('mfa.passkey_failed')}</p>
  <noscript><p><small>${t('mfa.passkey_needs_js')}</small></p></noscript>
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
export function totpEnrolForm(action: string, csrf: string, enrolment: TotpEnrolment, error?: string, t: Translate = ENGLISH): Html {
  return html`<p>${t('mfa.totp_scan')}</p>
<img class="qr" src="${enrolment.qrCodeDataUrl}" alt="${t('mfa.qr_alt')}">
<p>${rich(t('mfa.totp_manual'), { secret: html`<code id="totp-secret">${enrolment.secret}</code>` })}</p>
<form method="post" action="${action}" novalidate>
  ${hidden(csrf, 'enrol')}
  <input type="hidden" name="factor_id" value="${enrolment.factorId}">
  ${codeInput(t('mfa.totp_code_label'), error)}
  <button type="submit">${t('mfa.turn_on')}</button>
</form>`;
}

export function enrolPage(ctx: PageContext & { action: string; csrf: string; enrolment: TotpEnrolment; error?: string }): string {
  const { t } = wordsOf(ctx);
  return framed(
    ctx,
    t('mfa.enrol_title'),
    html`<h1>${t('mfa.enrol_title')}</h1>
<p>${t('mfa.enrol_intro')}</p>
${errorBox(ctx.error)}
${totpEnrolForm(ctx.action, ctx.csrf, ctx.enrolment, ctx.error, t)}`,
  );
}

/** Recovery codes, shown this once; then on: a form (that finishes the sign-in) or a link (back to the account page). */
export function recoveryCodesPage(ctx: PageContext & { codes: string[] } & ({ action: string; csrf: string } | { href: string })): string {
  const { t } = wordsOf(ctx);
  const one = ctx.codes.length === 1;
  return framed(
    ctx,
    t('mfa.codes_title'),
    html`<h1>${t(one ? 'mfa.new_code_title' : 'mfa.codes_title')}</h1>
<p>${t(one ? 'mfa.new_code_intro' : 'mfa.codes_intro')}</p>
<ul class="codes" id="recovery-codes">${ctx.codes.map((code) => html`<li><code>${code}</code></li>`)}</ul>
${
  'href' in ctx
    ? html`<p><a href="${ctx.href}" id="continue">${t('common.continue')}</a></p>`
    : html`<form method="post" action="${ctx.action}">
  ${hidden(ctx.csrf, 'continue')}
  <button type="submit" autofocus>${t('common.continue')}</button>
</form>`
}`,
  );
}
