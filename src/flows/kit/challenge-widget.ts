import type { FastifyReply } from 'fastify';
import { ALTCHA_ASSETS } from '../../authn/bot-defence/altcha.js';
import type { ChallengeOffer } from '../../authn/bot-defence/challenge.js';
import { SOLUTION_FIELD } from '../../authn/bot-defence/challenge.js';
import { AppError } from '../../platform/errors.js';
import type { Form } from '../../platform/web/forms.js';
import { challengePageHeaders, type Html, html, jsonBlock, newNonce, PAGE_HEADERS } from '../../platform/web/html.js';

/** The catalog's words of the widget (src/platform/i18n/messages/common.ts). */
type CaptchaKey =
  | 'captcha.label'
  | 'captcha.verifying'
  | 'captcha.verified'
  | 'captcha.verification_required'
  | 'captcha.error'
  | 'captcha.expired'
  | 'captcha.noscript';

/**
 * A CAPTCHA on a hosted page (decision 375): the widget of the tenant's provider inside the
 * form, its solution posted as `captcha` (or the provider's own field), and a clear
 * sentence where JavaScript is off. A page with a widget is sent with headers that allow
 * exactly its script (by nonce) and, for a third party, the provider's origins.
 */
export interface PageChallenge {
  offer: ChallengeOffer;
  nonce: string;
}

export const pageChallenge = (offer: ChallengeOffer | undefined): PageChallenge | undefined => offer && { offer, nonce: newNonce() };

/** The challenge a refusal carried (428 challenge_required / challenge_failed), to draw on the page that answers it. */
export function offerIn(error: unknown): ChallengeOffer | undefined {
  if (!(error instanceof AppError) || (error.code !== 'challenge_required' && error.code !== 'challenge_failed')) return undefined;
  return error.details?.challenge as ChallengeOffer | undefined;
}

/** The solution a hosted form carried: ours, or the field a provider's widget fills in itself. */
export function solutionOf(form: Form): string | undefined {
  for (const field of [SOLUTION_FIELD, 'cf-turnstile-response', 'h-captcha-response', 'g-recaptcha-response']) {
    const value = form[field];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

const THIRD_PARTY = {
  turnstile: { className: 'cf-turnstile', script: 'https://challenges.cloudflare.com/turnstile/v0/api.js' },
  hcaptcha: { className: 'h-captcha', script: 'https://js.hcaptcha.com/1/api.js' },
  recaptcha: { className: 'g-recaptcha', script: 'https://www.google.com/recaptcha/api.js' },
} as const;

/** The widget's markup, to sit in the form before its submit button; nothing without a challenge. */
export function challengeWidget(look: { t: (key: CaptchaKey) => string; locale: string }, challenge: PageChallenge | undefined): Html | '' {
  if (!challenge) return '';
  const { t, locale } = look;
  const { offer, nonce } = challenge;
  const noscript = html`<noscript><p class="error" role="alert">${t('captcha.noscript')}</p></noscript>`;
  if (offer.provider === 'altcha') {
    const words = {
      label: t('captcha.label'),
      verifying: t('captcha.verifying'),
      verified: t('captcha.verified'),
      verificationRequired: t('captcha.verification_required'),
      error: t('captcha.error'),
      expired: t('captcha.expired'),
    };
    return html`<div class="captcha">
  <link rel="stylesheet" href="${ALTCHA_ASSETS}/altcha.css">
  <script type="application/json" id="gatehouse-altcha-strings">${jsonBlock({ lang: locale, words })}</script>
  <altcha-widget name="${SOLUTION_FIELD}" challenge="${JSON.stringify(offer.challenge)}" auto="onfocus" language="${locale}" configuration="${JSON.stringify({ hideFooter: true, hideLogo: true })}"></altcha-widget>
  ${noscript}
  <script type="module" nonce="${nonce}" src="${ALTCHA_ASSETS}/boot.js"></script>
</div>`;
  }
  const provider = THIRD_PARTY[offer.provider];
  const field = offer.provider === 'turnstile' ? html` data-response-field-name="${SOLUTION_FIELD}"` : '';
  return html`<div class="captcha">
  <div class="${provider.className}" data-sitekey="${offer.site_key}"${field}></div>
  ${noscript}
  <script nonce="${nonce}" src="${provider.script}?hl=${encodeURIComponent(locale)}" async defer></script>
</div>`;
}

/** Sends a hosted page, with the CSP its widget needs when it has one. */
export const sendChallengePage = (reply: FastifyReply, body: string, challenge: PageChallenge | undefined, status = 200) =>
  reply
    .status(status)
    .headers(challenge ? challengePageHeaders(challenge.nonce, challenge.offer.provider) : PAGE_HEADERS)
    .send(body);
