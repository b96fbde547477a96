import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../audit/record.js';
import type { AppContext } from '../context.js';
import { constantTimeEqual } from '../crypto/secrets.js';
import type { User } from '../db/schema.js';
import { AppError } from '../errors.js';
import { assertFlowBrowser, type Flow } from '../flows/flows.js';
import { type Locale, pickLocale, type Translate, translator } from '../i18n/index.js';
import { brandingOf } from '../oidc/pages.js';
import { setSessionCookie } from '../sessions/cookie.js';
import { openSession } from '../sessions/sessions.js';
import { type Branding, PAGE_HEADERS } from './html.js';

/**
 * What every hosted flow page needs: the browser binding (an HttpOnly cookie whose hash a
 * browser flow stores, so only the browser that started a flow can submit it), a CSRF
 * token bound to the flow, and the page's language and branding.
 */
export const FLOW_COOKIE = 'gatehouse_flow';
const BINDING = /^[\w-]{22,64}$/;

export type Form = Record<string, string>;

/** This browser's binding value, set on first use (a session cookie: a flow lives hours at most). */
export function browserBinding(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): string {
  const existing = request.cookies[FLOW_COOKIE];
  if (existing && BINDING.test(existing)) return existing;
  const value = randomBytes(24).toString('base64url');
  reply.setCookie(FLOW_COOKIE, value, { path: '/', httpOnly: true, sameSite: 'lax', secure: ctx.config.issuer.startsWith('https:') });
  // A page that sets the cookie and renders a form in one response must see it in the same request.
  request.cookies[FLOW_COOKIE] = value;
  return value;
}

/** The hidden `csrf` field of a flow's forms. */
export const flowCsrf = (ctx: AppContext, flowId: string): string =>
  createHmac('sha256', ctx.masterKey).update(`flow-csrf\0${flowId}`).digest('base64url');

/** A form posted to a browser flow: the right browser and the right CSRF token, or 403 `csrf_failed`. */
export function checkFlowForm(ctx: AppContext, request: FastifyRequest, flow: Flow, form: Form): void {
  assertFlowBrowser(flow, request.cookies[FLOW_COOKIE]);
  if (!constantTimeEqual(Buffer.from(form.csrf ?? ''), Buffer.from(flowCsrf(ctx, flow.id)))) {
    throw new AppError('csrf_failed', 'This form has expired; go back and try again');
  }
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
  const query = request.query as Record<string, unknown> | undefined;
  const uiLocales = options.uiLocales ?? (typeof query?.ui_locales === 'string' ? query.ui_locales : undefined);
  const locale = pickLocale({
    uiLocales,
    userLocale: options.userLocale ?? null,
    acceptLanguage: request.headers['accept-language'] ?? null,
  });
  const branding = await brandingOf(ctx, options.tenantId ?? undefined);
  return { locale, t: translator(locale), ...(branding && { branding }) };
}

/** Sends a rendered page with the hosted pages' security headers. */
export const sendPage = (reply: FastifyReply, body: string, status = 200) => reply.status(status).headers(PAGE_HEADERS).send(body);

/**
 * The end of a flow that signs the user in (sign-up, reset, invitation, passwordless): a
 * session cookie, then back to where the flow started: the authorization request, which
 * sees the session and goes on (with a second factor when one is due), or the account page.
 */
export async function signInAndReturn(
  ctx: AppContext,
  reply: FastifyReply,
  user: User,
  options: { returnTo: string | null; amr: string[] },
  actor: Actor,
) {
  const { token, session } = await openSession(ctx, user, { amr: options.amr }, actor);
  setSessionCookie(ctx, reply, token, session);
  return reply.redirect(safeReturn(options.returnTo), 303);
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
