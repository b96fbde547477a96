import type { FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { type ChallengeOffer, challengeForPage, requireChallenge } from '../../authn/bot-defence/challenge.js';
import {
  confirmFactor,
  enrolTotp,
  listFactors,
  passkeyAuthenticationOptions,
  sameChannelAsFirst,
  startChallenge,
  verifyPasskeyAuthentication,
  verifySecondFactor,
} from '../../authn/mfa/index.js';
import { endStep, keepPending, loginClaims, type MfaStep } from '../../authn/mfa/sign-in-step.js';
import { setSessionCookie } from '../../authn/sessions/cookie.js';
import { openSession, recordSessionAmr, sessionById } from '../../authn/sessions/sessions.js';
import { activeUser } from '../../directory/users/lookups.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { MfaFactorType } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { setRetryAfter } from '../../platform/http/server.js';
import type { Locale, MessageKey, Translate } from '../../platform/i18n/index.js';
import type { Form } from '../../platform/web/forms.js';
import { type Branding, challengePageHeaders, newNonce, PAGE_HEADERS, scriptPageHeaders } from '../../platform/web/html.js';
import { type PageContext, wordsOf } from '../../platform/web/pages.js';
import { challengeWidget, offerIn, solutionOf } from '../kit/challenge-widget.js';
import { challengePage, enrolPage, type TotpEnrolment } from './mfa-pages.js';

/**
 * The MFA step as pages, for any browser flow that stored an `MfaStep` (the hosted
 * sign-in, keyed by its interaction; the account page's own sign-in): show the challenge
 * or the enrolment, and check an answer. What happens once it is proved is the flow's.
 */
export interface StepFlow {
  /** The MFA forms post here; `${action}/send` sends an email or SMS code. */
  action: string;
  csrf: string;
  branding: Branding | undefined;
  /** The pages' language (English without one). */
  lang?: Locale;
  t?: Translate;
  actor: Actor;
  /** The factor types that count for the sign-in's target (decision 198); all when absent. */
  allowed?: readonly MfaFactorType[];
  /** Bot defence of the code sends (decision 382): whose policy (null: the system tenant's) and the client's address. */
  bot?: { tenantId: string | null; ip: string | null };
}

/** The page context of a step's pages. */
export const stepPage = (flow: StepFlow): PageContext => ({
  ...(flow.branding && { branding: flow.branding }),
  ...(flow.lang && { lang: flow.lang }),
  ...(flow.t && { t: flow.t }),
});

/** An error whose page message is a catalog sentence (the API keeps the English `message`). */
const stepError = (key: MessageKey, message: string) => Object.assign(new AppError('invalid_request', message), { messageKey: key });

/** The answer of a factor type the sign-in's target does not allow (decision 198): choose another. */
export const factorNotAllowed = () => stepError('mfa.choose_method', 'Choose another way to verify');

/** Whether a factor type counts for the flow's target (decision 198). */
const counts = (flow: StepFlow, type: string) => !flow.allowed || flow.allowed.includes(type as MfaFactorType);

/** What an accepted answer proved, and recovery codes to show once (the first factor's, or a spent code's replacement). */
export interface Proved {
  methods: string[];
  codes?: string[];
}

export async function showStep(
  ctx: AppContext,
  reply: FastifyReply,
  flow: StepFlow,
  step: MfaStep,
  options: {
    recovery?: boolean;
    sent?: { oobCode: string; destination?: string };
    error?: AppError;
    method?: string;
    challenge?: ChallengeOffer;
  } = {},
): Promise<FastifyReply> {
  const status = options.error?.status ?? 200;
  const { t, lang } = wordsOf(stepPage(flow));
  const message = options.error && messageOf(t, lang, options.error, options.method);
  if (options.error && tooMany(options.error)) setRetryAfter(reply, options.error);
  if (step.need === 'enrol') {
    // The step enrols an authenticator app: where the target does not allow one, the user adds an allowed factor first.
    if (!counts(flow, 'otp')) {
      throw new AppError('factor_not_allowed', 'This organization requires a kind of second factor you have not set up', {
        allowed: flow.allowed,
      });
    }
    const enrolment = await pendingEnrolment(ctx, flow, step);
    return reply
      .status(status)
      .headers(PAGE_HEADERS)
      .send(enrolPage({ ...stepPage(flow), action: flow.action, csrf: flow.csrf, enrolment, ...(message && { error: message }) }));
  }
  const factors = (await listFactors(ctx, step.userId)).filter(
    (f) => f.confirmed && f.type !== 'recovery-code' && !spent(step, f.type) && counts(flow, f.type),
  );
  const nonce = newNonce();
  const passkey =
    !options.recovery && !options.sent && factors.some((f) => f.type === 'webauthn')
      ? { options: await passkeyAuthenticationOptions(ctx, step.userId), nonce }
      : undefined;
  // The send forms carry a widget when bot defence asks (one nonce for the page's scripts).
  const sends = !options.recovery && !options.sent && flow.bot && factors.some((f) => f.type === 'sms' || f.type === 'email');
  const offer =
    sends && flow.bot
      ? (options.challenge ?? (await challengeForPage(ctx, { ip: flow.bot.ip }, { tenantId: flow.bot.tenantId, action: 'mfa_send' })))
      : undefined;
  const challenge = offer && { offer, nonce };
  const { t: words, lang: locale } = wordsOf(stepPage(flow));
  return reply
    .status(status)
    .headers(challenge ? challengePageHeaders(nonce, offer.provider) : passkey ? scriptPageHeaders(nonce) : PAGE_HEADERS)
    .send(
      challengePage({
        ...stepPage(flow),
        action: flow.action,
        csrf: flow.csrf,
        factors,
        ...(options.recovery && { recovery: true }),
        ...(options.sent && { sent: options.sent }),
        ...(passkey && { passkey }),
        ...(message && { error: message }),
        ...(challenge && { captcha: challengeWidget({ t: words, locale: locale ?? 'en' }, challenge) }),
      }),
    );
}

/** The TOTP factor this step enrols: made once, kept (sealed) with the step, so a reload shows the same QR code. */
async function pendingEnrolment(ctx: AppContext, flow: StepFlow, step: MfaStep): Promise<TotpEnrolment> {
  if (step.pending) return { ...step.pending, qrCodeDataUrl: await QRCode.toDataURL(step.pending.otpauthUri) };
  const enrolment = await enrolTotp(ctx, flow.actor, step.userId);
  await keepPending(ctx, step.uid, { factorId: enrolment.factorId, secret: enrolment.secret, otpauthUri: enrolment.otpauthUri });
  return enrolment;
}

const spent = (step: MfaStep, type: string) => sameChannelAsFirst(step.amr, type);

/** Sends an email or SMS code for one of the user's factors, and shows where to type it. */
export async function sendStepCode(ctx: AppContext, reply: FastifyReply, flow: StepFlow, step: MfaStep, form: Form) {
  const factor = (await listFactors(ctx, step.userId)).find(
    (f) =>
      f.id === form.factor_id && f.confirmed && (f.type === 'email' || f.type === 'sms') && !spent(step, f.type) && counts(flow, f.type),
  );
  if (step.need !== 'challenge' || !factor) throw new AppError('not_found', 'That factor is not one of yours');
  if (flow.bot) {
    try {
      await requireChallenge(ctx, { ip: flow.bot.ip }, { tenantId: flow.bot.tenantId, action: 'mfa_send', solution: solutionOf(form) });
    } catch (error) {
      const challenge = offerIn(error);
      if (!challenge) throw error;
      return showStep(ctx, reply, flow, step, { error: error as AppError, challenge });
    }
  }
  try {
    const { oobCode } = await startChallenge(ctx, step.userId, factor.id);
    return showStep(ctx, reply, flow, step, { sent: { oobCode, ...(factor.destination && { destination: factor.destination }) } });
  } catch (error) {
    // The send limit (decision 216): the same page, with the refusal and Retry-After.
    if (!(error instanceof AppError) || !tooMany(error)) throw error;
    return showStep(ctx, reply, flow, step, { error });
  }
}

/**
 * Checks one answer (each through the brute-force guard, in the mfa module). Returns what
 * it proved, or undefined after showing the page again with a stable message.
 */
export async function answerStep(
  ctx: AppContext,
  reply: FastifyReply,
  flow: StepFlow,
  step: MfaStep,
  form: Form,
): Promise<Proved | undefined> {
  const code = (form.code ?? '').replace(/\s+/g, '');
  try {
    return await check(ctx, flow, step, form, code);
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    const again = { error, ...(form.method && { method: form.method }), ...(form.method === 'recovery' && { recovery: true }) };
    const sent = form.method === 'oob' && form.oob_code ? { sent: { oobCode: form.oob_code } } : {};
    await showStep(ctx, reply, flow, step, { ...again, ...sent });
    return undefined;
  }
}

async function check(ctx: AppContext, flow: StepFlow, step: MfaStep, form: Form, code: string): Promise<Proved> {
  const ip = flow.actor.ip;
  if (step.need === 'enrol') {
    if (form.method !== 'enrol' || !step.pending || form.factor_id !== step.pending.factorId) {
      throw stepError('mfa.otp_label', 'Enter the code from your authenticator app');
    }
    const { recoveryCodes } = await confirmFactor(ctx, flow.actor, step.userId, step.pending.factorId, { otp: code });
    return { methods: ['otp'], ...(recoveryCodes && { codes: recoveryCodes }) };
  }
  switch (form.method) {
    case 'otp':
      return { methods: (await verifySecondFactor(ctx, step.userId, { otp: code }, ip)).amr };
    case 'oob': {
      const result = await verifySecondFactor(ctx, step.userId, { oobCode: form.oob_code ?? '', bindingCode: code }, ip);
      const factor = (await listFactors(ctx, step.userId)).find((f) => f.id === result.factorId);
      if (factor && spent(step, factor.type)) throw stepError('mfa.choose_method', 'Choose another way to verify');
      return { methods: result.amr };
    }
    case 'recovery': {
      const result = await verifySecondFactor(ctx, step.userId, { recoveryCode: code }, ip);
      return { methods: result.amr, ...(result.newRecoveryCode && { codes: [result.newRecoveryCode] }) };
    }
    case 'passkey':
      return { methods: (await verifyPasskeyAuthentication(ctx, step.userId, parseCredential(form.response), ip)).amr };
    default:
      throw stepError('mfa.choose_method', 'Choose a way to verify');
  }
}

/** The credential the page's script posted, as JSON; anything else is a bad request, never a 500. */
export function parseCredential(value: string | undefined): never {
  try {
    const parsed = JSON.parse(value ?? '');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as never;
  } catch {
    // falls through
  }
  throw stepError('mfa.passkey_invalid', 'The passkey answer is not valid');
}

/** The brute-force guard's refusal (src/protection/guard.ts). */
/** A refusal for now (Retry-After): too many attempts or sends, an SMS cap reached, a resend too soon (decisions 379–381). */
const tooMany = (error: AppError) => error.status === 429;

/** The page's words for a refused answer; a domain error's own (English) message only on an English page. */
function messageOf(t: Translate, lang: Locale, error: AppError, method: string | undefined): string {
  if (tooMany(error)) return t('mfa.too_many');
  if (error.code === 'challenge_required' || error.code === 'challenge_failed') {
    return t(error.code === 'challenge_failed' ? 'captcha.failed' : 'captcha.required');
  }
  const key = (error as { messageKey?: MessageKey }).messageKey;
  if (key) return t(key);
  if ((error.code === 'invalid_request' || error.code === 'missing_field') && lang === 'en') return error.message;
  return t(method === 'passkey' ? 'mfa.passkey_failed' : 'mfa.wrong_code');
}

/**
 * The end of a proved step (the hosted sign-in's and the account sign-in's alike): a
 * step-up raises the live session's `amr`; otherwise a new session opens with the step's
 * `amr` and its cookie is set. Returns the session's `amr`, or undefined when the step's
 * session has ended meanwhile (or belongs to someone else).
 */
export async function sessionAfterStep(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  step: Pick<MfaStep, 'uid' | 'userId' | 'sessionId'> & { connectionId?: string | null },
  amr: string[],
): Promise<string[] | undefined> {
  await endStep(ctx, step.uid);
  if (step.sessionId) {
    const active = await sessionById(ctx, step.sessionId, false);
    if (active?.user.id !== step.userId) return undefined;
    const raised = loginClaims([...active.session.amr, ...amr]).amr;
    await recordSessionAmr(ctx, step.sessionId, raised);
    return raised;
  }
  const user = await activeUser(ctx.db, step.userId);
  if (!user) throw new AppError('account_disabled', 'This account is disabled');
  const { token, session } = await openSession(ctx, user, { amr, connectionId: step.connectionId }, actorOf(request));
  setSessionCookie(ctx, reply, token, session);
  return amr;
}
