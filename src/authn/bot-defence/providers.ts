import type { Policies } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import { serviceUnavailable } from '../../platform/errors.js';
import { ANY_DESTINATION, applicationDestinations } from '../../platform/http/destinations.js';
import { checkedFetch } from '../../platform/http/outbound.js';

/**
 * The third-party providers (decision 374): Cloudflare Turnstile, hCaptcha and Google
 * reCAPTCHA. Each is verified server-side in its documented shape: a form POST of
 * `secret`, `response` (the token the widget gave the browser) and `remoteip` to its
 * siteverify URL, answered by JSON with a boolean `success` and `error-codes`. hCaptcha
 * also takes the `sitekey`, and a reCAPTCHA v3 answer carries a `score`.
 */
export type ThirdParty = Exclude<Policies['bot_defence']['provider'], 'altcha'>;

const VERIFY_TIMEOUT_MS = 5_000;
/** reCAPTCHA v3 answers with a score from 0 (a bot) to 1 (a person); below this it is refused. */
const RECAPTCHA_MIN_SCORE = 0.5;
/** The most of a token we send on (providers' tokens are a few kB at most). */
export const MAX_TOKEN = 4096;

interface SiteverifyAnswer {
  success?: unknown;
  score?: unknown;
  'error-codes'?: unknown;
}

export type ProviderOutcome = { ok: true } | { ok: false; errors: string[] };

/**
 * Where to verify: the tenant's `verify_url`, else the operator's (GATEHOUSE_<PROVIDER>_VERIFY_URL),
 * else the provider's documented URL. A tenant's URL goes through the SSRF guard (in
 * production no internal address), like every URL an administrator chose.
 */
function destination(ctx: AppContext, bot: Policies['bot_defence'], provider: ThirdParty) {
  if (bot.verify_url !== '') return { url: bot.verify_url, policy: applicationDestinations(ctx.config) };
  return { url: ctx.config.captchaVerifyUrls[provider], policy: ANY_DESTINATION };
}

/** Asks the provider whether `token` is a solved challenge; a provider that cannot be reached is a 503, never a pass. */
export async function verifyWithProvider(
  ctx: AppContext,
  bot: Policies['bot_defence'],
  provider: ThirdParty,
  input: { secret: string; token: string; ip: string | null },
): Promise<ProviderOutcome> {
  const { url, policy } = destination(ctx, bot, provider);
  const form = new URLSearchParams({ secret: input.secret, response: input.token });
  if (input.ip) form.set('remoteip', input.ip);
  if (provider === 'hcaptcha' && bot.site_key) form.set('sitekey', bot.site_key);
  let answer: SiteverifyAnswer;
  try {
    const response = await checkedFetch(policy, VERIFY_TIMEOUT_MS)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form,
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    answer = (await response.json()) as SiteverifyAnswer;
  } catch (error) {
    // Never the secret or the token: only which provider and why.
    ctx.log.warn({ provider, err: (error as Error).message }, 'CAPTCHA provider could not be asked');
    throw serviceUnavailable(`The CAPTCHA provider (${provider})`, 5);
  }
  const errors = Array.isArray(answer['error-codes']) ? answer['error-codes'].filter((e): e is string => typeof e === 'string') : [];
  if (answer.success !== true) return { ok: false, errors: errors.length > 0 ? errors : ['unsuccessful'] };
  if (provider === 'recaptcha' && typeof answer.score === 'number' && answer.score < RECAPTCHA_MIN_SCORE) {
    return { ok: false, errors: ['low-score'] };
  }
  return { ok: true };
}
