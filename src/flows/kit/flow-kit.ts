import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mayOpenSession } from '../../authn/mfa/sign-in-step.js';
import { setSessionCookie } from '../../authn/sessions/cookie.js';
import { openSession } from '../../authn/sessions/sessions.js';
import { brandingOf } from '../../directory/branding/branding.js';
import { activeUser } from '../../directory/users/lookups.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { FlowKind, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import type { Locale } from '../../platform/i18n/index.js';
import { cookieOptions } from '../../platform/web/cookies.js';
import { checkCsrf, csrfFailed, csrfToken, type Form } from '../../platform/web/forms.js';
import { type Branding, PAGE_HEADERS, withTexts } from '../../platform/web/html.js';
import { type PageContext, requestLocale } from '../../platform/web/pages.js';
import { advanceFlow, assertFlowBrowser, type Flow, type Proof, type Returning, takeProof } from './flows.js';
import { type Translate, translator } from './messages.js';

/**
 * What every hosted flow page needs: the browser binding (an HttpOnly cookie whose hash a
 * browser flow stores, so only the browser that started a flow can submit it), a CSRF
 * token bound to the flow, and the page's language and branding.
 */
export const FLOW_COOKIE = 'gatehouse_flow';
const BINDING = /^[\w-]{22,64}$/;

/** This browser's binding value, set on first use (a session cookie: a flow lives hours at most). */
export function browserBinding(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): string {
  const existing = request.cookies[FLOW_COOKIE];
  if (existing && BINDING.test(existing)) return existing;
  const value = randomBytes(24).toString('base64url');
  reply.setCookie(FLOW_COOKIE, value, cookieOptions(ctx));
  // A page that sets the cookie and renders a form in one response must see it in the same request.
  request.cookies[FLOW_COOKIE] = value;
  return value;
}

/** The hidden `csrf` field of a flow's forms. */
export const flowCsrf = (ctx: AppContext, flowId: string): string => csrfToken(ctx, 'flow', flowId);

/** A form posted to a browser flow: the right browser and the right CSRF token, or 403 `csrf_failed`. */
export function checkFlowForm(
  ctx: AppContext,
  request: FastifyRequest,
  flow: Pick<Flow, 'id' | 'channel' | 'browser_hash'>,
  form: Form,
): void {
  assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
  checkCsrf(ctx, form, 'flow', flow.id);
}

/**
 * The CSRF token of a form behind an emailed link (reset, invitation), whose flow has no
 * browser binding: bound to the flow AND to this browser's binding cookie, set when the
 * link's page is opened. The link's holder alone cannot make a valid form for another
 * browser (login CSRF: signing a victim's browser into the attacker's account).
 */
export const linkCsrf = (ctx: AppContext, flowId: string, binding: string): string => csrfToken(ctx, 'link', flowId, binding);

/** A form posted from a link's page: this browser's binding cookie and the token made for it, or 403 `csrf_failed`. */
export function checkLinkForm(ctx: AppContext, request: FastifyRequest, flowId: string, form: Form): void {
  checkCsrf(ctx, form, 'link', flowId, boundBrowser(request));
}

/** This browser's binding cookie, when it has a well-formed one; else the form cannot be this browser's (403 `csrf_failed`). */
export function boundBrowser(request: FastifyRequest): string {
  const binding = request.cookies[FLOW_COOKIE];
  if (!binding || !BINDING.test(binding)) throw csrfFailed();
  return binding;
}

export interface PageLook {
  locale: Locale;
  t: Translate;
  branding?: Branding;
}

/**
 * A page's language (ui_locales, then the user's locale, then Accept-Language) and its
 * tenant's branding.
 */
export async function pageLook(
  ctx: AppContext,
  request: FastifyRequest,
  options: { tenantId?: string | null; uiLocales?: string | null; userLocale?: string | null } = {},
): Promise<PageLook> {
  const locale = requestLocale(request, options);
  const branding = await brandingOf(ctx, options.tenantId);
  return { locale, t: withTexts(translator(locale), branding, locale), ...(branding && { branding }) };
}

/** The look without the tenant's branding, for when the database that holds it cannot be read. */
export function plainLook(request: FastifyRequest): PageLook {
  const locale = requestLocale(request);
  return { locale, t: translator(locale) };
}

/** A look as the page renderers take it. */
export const pageOf = (look: PageLook): PageContext => ({
  lang: look.locale,
  t: look.t,
  ...(look.branding && { branding: look.branding }),
});

/** Sends a rendered page with the hosted pages' security headers. */
export const sendPage = (reply: FastifyReply, body: string, status = 200) => reply.status(status).headers(PAGE_HEADERS).send(body);

/**
 * The end of a flow that signs the user in (sign-up, reset, invitation, passwordless). For
 * an authorization request no session is opened here: the flow records who proved what
 * and `/interaction/<uid>/finish?flow=…` (routes.ts) goes on as after a password, the MFA
 * step included, so a second factor still comes before any session (and an application's
 * prompt=login or max_age is not sent back to the password form). For the account page, a
 * session only when no second factor is due; otherwise the account sign-in, which asks
 * for it.
 */
export async function signInAndReturn<K extends FlowKind, S extends string, D extends { proved?: Proof }>(
  ctx: AppContext,
  reply: FastifyReply,
  user: User,
  options: { flow: Flow<K, S | Returning, D>; amr: string[]; secondFactor?: boolean; connectionId?: string },
  actor: Actor,
) {
  const { flow, amr, connectionId } = options;
  const returnTo = safeReturn(flow.return_to);
  if (returnTo.startsWith('/interaction/')) {
    const proved: Proof = {
      user_id: user.id,
      amr,
      ...(options.secondFactor && { second_factor: true }),
      ...(connectionId && { connection_id: connectionId }),
    };
    await advanceFlow(ctx.db, ctx, flow, { state: 'returning', data: { ...flow.data, proved } });
    return reply.redirect(`${returnTo}/finish?flow=${encodeURIComponent(flow.id)}`, 303);
  }
  if (!(await mayOpenSession(ctx, user))) return reply.redirect('/account/sign-in', 303);
  const { token, session } = await openSession(ctx, user, { amr, connectionId }, actor);
  setSessionCookie(ctx, reply, token, session);
  return reply.redirect(returnTo, 303);
}

/**
 * Who a flow proved, for this interaction (see signInAndReturn), checked: the same
 * browser, the flow still `returning` to this very interaction, the user still active. The
 * flow is then done, so the step cannot be replayed.
 */
export async function returningUser(ctx: AppContext, request: FastifyRequest, uid: string, flowId: string) {
  const proved = await takeProof(ctx.db, ctx, flowId, `/interaction/${uid}`, (flow) =>
    assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]),
  );
  const user = await activeUser(ctx.db, proved.user_id);
  if (!user) throw new AppError('account_disabled', 'This account is disabled');
  return {
    user,
    amr: proved.amr,
    ...(proved.second_factor && { secondFactor: true }),
    ...(proved.connection_id && { connectionId: proved.connection_id }),
  };
}

/** Only our own interaction and account paths are places to return to (no open redirect). */
export function safeReturn(returnTo: string | null | undefined): string {
  return returnTo && /^\/(interaction\/[\w-]+|account(\/[\w-]*)?)$/.test(returnTo) ? returnTo : '/account';
}

/** The `?interaction=` a flow page was opened with, as the place to return to. */
export function returnFromQuery(request: FastifyRequest): string | null {
  const uid = (request.query as Record<string, unknown> | undefined)?.interaction;
  return typeof uid === 'string' && /^[\w-]{1,64}$/.test(uid) ? `/interaction/${uid}` : null;
}
