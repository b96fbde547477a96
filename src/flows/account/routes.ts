import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import {
  confirmFactor,
  enrolOob,
  enrolTotp,
  listFactors,
  passkeyRegistrationOptions,
  regenerateRecoveryCodes,
  removeFactor,
  verifyPasskeyRegistration,
} from '../../authn/mfa/index.js';
import { beginStep, endStep, keepPending, loadStep, loginClaims } from '../../authn/mfa/sign-in-step.js';
import { recordSessionAmr } from '../../authn/sessions/sessions.js';
import { brandingOf } from '../../directory/branding/branding.js';
import { tenantPolicies } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import { AppError, notFound } from '../../platform/errors.js';
import type { Locale } from '../../platform/i18n/index.js';
import { isUuid } from '../../platform/ids.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import type { Form } from '../../platform/web/forms.js';
import { type Branding, newNonce, PAGE_HEADERS, scriptPageHeaders } from '../../platform/web/html.js';
import type { MessageKey, Translate } from '../kit/messages.js';
import { parseCredential } from '../sign-in/mfa-flow.js';
import { recoveryCodesPage } from '../sign-in/mfa-pages.js';
import { accountAreaRoutes } from './area.js';
import { addTotpPage, confirmOobPage, securityPage } from './pages.js';
import { accountSession, errorText } from './session.js';
import { accountSignInRoutes } from './sign-in.js';

const SECURITY = '/account/security';

/** The factor a form names: a malformed id is a factor that does not exist (404), never a database error. */
function factorIdOf(form: Form): string {
  if (!isUuid(form.factor_id ?? '')) throw notFound('Factor');
  return form.factor_id as string;
}

/** The language and branding of a security page. */
const lookOf = (s: { t: Translate; lang: Locale; branding?: Branding | undefined }) => ({
  t: s.t,
  lang: s.lang,
  ...(s.branding && { branding: s.branding }),
});

/** Fixed notices by key (never text from the query string). */
const NOTICES: Record<string, MessageKey> = {
  added: 'account.notice_factor_added',
  removed: 'account.notice_factor_removed',
};

/**
 * The hosted account page for second factors, /account/security: list, add (authenticator
 * app, email, SMS, passkey), remove, and new recovery codes. Signed in with the Gatehouse
 * session cookie (else the account sign-in); a user with a factor must have proved one in
 * this session. Every form carries a CSRF token bound to the session.
 */
export function accountRoutes(app: FastifyInstance, ctx: AppContext): void {
  accountSignInRoutes(app, ctx);
  accountAreaRoutes(app, ctx);
  const session = accountSession(ctx);
  const csrfFor = session.csrfFor;

  /** The signed-in session that may manage factors, or a redirect to sign in (or to prove a factor). */
  async function signedIn(request: FastifyRequest, reply: FastifyReply, form?: Form) {
    const s = await session.signedIn(request, reply, { ...(form && { form }), stepUp: true });
    if (!s.active) return s;
    const { branding, t, locale } = s.look;
    return { ...s, branding, t, lang: locale };
  }

  type Look = { t: Translate; lang: Locale };
  async function render(reply: FastifyReply, active: ActiveSession, look: Look, options: { error?: AppError; notice?: string } = {}) {
    const nonce = newNonce();
    const { user } = active;
    const { mfa } = await tenantPolicies(ctx, user.home_tenant_id);
    const passkey = mfa.factors.includes('webauthn') ? { options: await passkeyRegistrationOptions(ctx, user.id), nonce } : undefined;
    const page = securityPage({
      ...look,
      branding: await brandingOf(ctx, user.home_tenant_id ?? undefined),
      csrf: csrfFor(active),
      email: user.email,
      factors: await listFactors(ctx, user.id),
      allowed: mfa.factors,
      ...(passkey && { passkey }),
      required: mfa.policy === 'required',
      ...(options.error && { error: errorText(look.t, options.error) }),
      ...(options.notice && { notice: options.notice }),
    });
    return reply
      .status(options.error?.status ?? 200)
      .headers(passkey ? scriptPageHeaders(nonce) : PAGE_HEADERS)
      .send(page);
  }

  /**
   * A factor confirmed in this session proved itself: a password-only session that has
   * just enrolled its first factor counts as multi-factor from now on (else its next page
   * would ask for the factor it has just shown).
   */
  async function proved(active: ActiveSession, method: string) {
    if (!active.session.amr.includes('mfa'))
      await recordSessionAmr(ctx, active.session.id, loginClaims([...active.session.amr, method]).amr);
  }

  /** Runs a change; a refusal (a 4xx) shows the page again with its message. */
  async function attempt(reply: FastifyReply, active: ActiveSession, look: Look, change: () => Promise<FastifyReply>) {
    try {
      return await change();
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return render(reply, active, look, { error });
    }
  }

  app.get<{ Querystring: { notice?: string } }>(SECURITY, { schema: { hide: true } }, async (request, reply) => {
    const s = await signedIn(request, reply);
    if (!s.active) return s.redirect;
    const key = request.query.notice ? NOTICES[request.query.notice] : undefined;
    return render(reply, s.active, s, key ? { notice: s.t(key) } : {});
  });

  /** The TOTP factor being added in this session, kept (sealed) beside it until confirmed. */
  const enrolUid = (active: ActiveSession) => `account-enrol:${active.session.id}`;

  app.post<{ Body: Form }>(`${SECURITY}/totp`, { schema: { hide: true } }, async (request, reply) => {
    const s = await signedIn(request, reply, request.body ?? {});
    if (!s.active) return s.redirect;
    const { active, actor } = s;
    return attempt(reply, active, s, async () => {
      const enrolment = await enrolTotp(ctx, actor, active.user.id);
      const uid = enrolUid(active);
      await beginStep(ctx, { uid, userId: active.user.id, sessionId: active.session.id, need: 'enrol' });
      await keepPending(ctx, uid, { factorId: enrolment.factorId, secret: enrolment.secret, otpauthUri: enrolment.otpauthUri });
      return reply.headers(PAGE_HEADERS).send(addTotpPage({ ...lookOf(s), csrf: csrfFor(active), enrolment }));
    });
  });

  for (const channel of ['email', 'sms'] as const) {
    app.post<{ Body: Form }>(`${SECURITY}/${channel}`, { schema: { hide: true } }, async (request, reply) => {
      const form = request.body ?? {};
      const s = await signedIn(request, reply, form);
      if (!s.active) return s.redirect;
      const { active, actor } = s;
      return attempt(reply, active, s, async () => {
        const { factorId, oobCode } = await enrolOob(ctx, actor, active.user.id, channel, form.phone_number || undefined);
        const destination = (await listFactors(ctx, active.user.id)).find((f) => f.id === factorId)?.destination ?? 'you';
        return reply.headers(PAGE_HEADERS).send(confirmOobPage({ ...lookOf(s), csrf: csrfFor(active), factorId, oobCode, destination }));
      });
    });
  }

  app.post<{ Body: Form }>(`${SECURITY}/confirm`, { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, form);
    if (!s.active) return s.redirect;
    const { active, actor, branding } = s;
    const code = (form.code ?? '').replace(/\s+/g, '');
    const csrf = csrfFor(active);
    const pending = form.method === 'oob' ? undefined : (await loadStep(ctx, enrolUid(active)))?.pending;
    if (form.method !== 'oob' && !pending) return reply.redirect(SECURITY, 303);
    try {
      const { recoveryCodes } = pending
        ? await confirmFactor(ctx, actor, active.user.id, pending.factorId, { otp: code })
        : await confirmFactor(ctx, actor, active.user.id, factorIdOf(form), { oobCode: form.oob_code ?? '', bindingCode: code });
      if (pending) await endStep(ctx, enrolUid(active));
      const sms = !pending && (await listFactors(ctx, active.user.id)).some((f) => f.id === form.factor_id && f.type === 'sms');
      await proved(active, sms ? 'sms' : 'otp');
      if (recoveryCodes)
        return reply.headers(PAGE_HEADERS).send(recoveryCodesPage({ ...(branding && { branding }), codes: recoveryCodes, href: SECURITY }));
      return reply.redirect(`${SECURITY}?notice=added`, 303);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500 || error.status === 404) throw error;
      const message = s.t('account.error_code');
      const status = error.status;
      if (pending) {
        const enrolment = { ...pending, qrCodeDataUrl: await QRCode.toDataURL(pending.otpauthUri) };
        return reply
          .status(status)
          .headers(PAGE_HEADERS)
          .send(addTotpPage({ ...lookOf(s), csrf, enrolment, error: message }));
      }
      const destination = (await listFactors(ctx, active.user.id)).find((f) => f.id === form.factor_id)?.destination ?? 'you';
      const oob = { factorId: form.factor_id ?? '', oobCode: form.oob_code ?? '', destination };
      return reply
        .status(status)
        .headers(PAGE_HEADERS)
        .send(confirmOobPage({ ...lookOf(s), csrf, ...oob, error: message }));
    }
  });

  app.post<{ Body: Form }>(`${SECURITY}/passkey`, { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, form);
    if (!s.active) return s.redirect;
    const { active, actor } = s;
    return attempt(reply, active, s, async () => {
      await verifyPasskeyRegistration(ctx, actor, active.user.id, parseCredential(form.response));
      await proved(active, 'hwk');
      return reply.redirect(`${SECURITY}?notice=added`, 303);
    });
  });

  app.post<{ Body: Form }>(`${SECURITY}/remove`, { schema: { hide: true } }, async (request, reply) => {
    const form = request.body ?? {};
    const s = await signedIn(request, reply, form);
    if (!s.active) return s.redirect;
    const { active, actor } = s;
    return attempt(reply, active, s, async () => {
      await removeFactor(ctx, actor, active.user.id, factorIdOf(form));
      return reply.redirect(`${SECURITY}?notice=removed`, 303);
    });
  });

  app.post<{ Body: Form }>(`${SECURITY}/recovery-codes`, { schema: { hide: true } }, async (request, reply) => {
    const s = await signedIn(request, reply, request.body ?? {});
    if (!s.active) return s.redirect;
    const { active, actor, branding } = s;
    return attempt(reply, active, s, async () => {
      const codes = await regenerateRecoveryCodes(ctx, actor, active.user.id);
      return reply.headers(PAGE_HEADERS).send(recoveryCodesPage({ ...(branding && { branding }), codes, href: SECURITY }));
    });
  });
}
