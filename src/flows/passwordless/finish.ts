import { issueMfaToken, mfaNeed } from '../../authn/mfa/index.js';
import { openSession } from '../../authn/sessions/sessions.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { openFlow, peekLink, readFlow, spendCode, spendLink } from '../kit/flows.js';
import { PASSWORDLESS, type PasswordlessFlow, type PasswordlessMethod } from './flow.js';
import { eligibleUser } from './start.js';

/**
 * The end of a passwordless flow: a right code (or a followed link) proves one factor, the
 * inbox or the phone (RFC 8176 `amr`: `email`, `sms`; decision 161). The flow is spent in
 * the same step, so a code or link works once.
 */
export const amrOf = (method: PasswordlessMethod): string[] => (method === 'sms_code' ? ['sms'] : ['email']);

export interface Proved {
  flow: PasswordlessFlow;
  user: User;
  amr: string[];
}

async function loginFailed(ctx: AppContext, flow: PasswordlessFlow, actor: Actor, reason: string): Promise<void> {
  await recordAudit(ctx.db, ctx, {
    action: 'iam.user.loginFailed',
    actor,
    tenantId: flow.tenant_id,
    outcome: 'failure',
    ...(flow.user_id && { target: { type: 'user', id: flow.user_id } }),
    details: { reason, method: flow.data.method, flow_id: flow.id },
  });
}

/** The signed-in user of a spent flow; an account disabled (or removed from the tenant) since is a wrong code. */
async function signedInUser(ctx: AppContext, flow: PasswordlessFlow, actor: Actor, wrong: () => AppError): Promise<Proved> {
  const user = await eligibleUser(ctx, flow.user_id, flow.tenant_id ?? '', flow.data.method);
  if (!user) {
    await loginFailed(ctx, flow, actor, 'not_eligible');
    throw wrong();
  }
  return { flow, user, amr: amrOf(flow.data.method) };
}

/** A passwordless flow that is still waiting for its code (the page shows this one). */
export async function waitingFlow(ctx: AppContext, flowId: string): Promise<PasswordlessFlow> {
  const flow = await readFlow(ctx.db, ctx, PASSWORDLESS, flowId);
  if (flow.state !== 'sent') throw new AppError('flow_state', 'This sign-in has finished; start again');
  return flow;
}

/**
 * Checks the code typed for a flow (the brute-force guard, kind `code`; five tries per flow)
 * and, when right, spends it. `check` runs first (a browser flow: its browser and CSRF).
 */
export async function proveCode(
  ctx: AppContext,
  flowId: string,
  code: string,
  actor: Actor,
  check?: (flow: PasswordlessFlow) => void,
): Promise<Proved> {
  const flow = await waitingFlow(ctx, flowId);
  check?.(flow);
  let spent: PasswordlessFlow;
  try {
    spent = await spendCode(ctx.db, ctx, flow, code, actor, 'done');
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_code') await loginFailed(ctx, flow, actor, 'invalid_code');
    throw error;
  }
  return signedInUser(ctx, spent, actor, () => new AppError('invalid_code', 'That code is not right, or it has expired'));
}

/** The flow an emailed link belongs to, not spent (the page shows a button first: mail scanners follow links). */
export function linkFlow(ctx: AppContext, token: string): Promise<PasswordlessFlow> {
  return peekLink(ctx.db, ctx, PASSWORDLESS, token);
}

/** A passwordless flow by id, for the API twin (`flow_expired` when past its time). */
export const passwordlessFlow = (ctx: AppContext, flowId: string) => readFlow(ctx.db, ctx, PASSWORDLESS, flowId);

/**
 * The flow of the hosted code page, expired or not: an expired one started from an
 * authorization request is answered with a fresh start form there.
 */
export const codePageFlow = (ctx: AppContext, flowId: string) => openFlow(ctx.db, ctx, PASSWORDLESS, flowId);

/** Follows an emailed link: `check` runs on the flow before it is spent (a browser flow: the same browser). */
export async function proveLink(ctx: AppContext, token: string, actor: Actor, check: (flow: PasswordlessFlow) => void): Promise<Proved> {
  const flow = await linkFlow(ctx, token);
  check(flow);
  const spent = await spendLink(ctx.db, ctx, PASSWORDLESS, token, 'done');
  return signedInUser(ctx, spent, actor, () => new AppError('link_invalid', 'This link is not valid; it may have been used already'));
}

export type ApiSignIn =
  | { kind: 'session'; token: string; sessionId: string; expiresAt: Date; session: Awaited<ReturnType<typeof openSession>>['session'] }
  | { kind: 'mfa'; mfaToken: string; need: 'challenge' | 'enrol' };

/**
 * The API's end of a proved flow: a session, or, when the application's MFA policy asks for
 * a second factor, an mfa_token for POST /api/v1/session/mfa (which keeps this `amr`).
 */
export async function apiSignIn(ctx: AppContext, proved: Proved, actor: Actor): Promise<ApiSignIn> {
  const { user, flow, amr } = proved;
  const application = flow.application_id
    ? await ctx.db.selectFrom('applications').select(['mfa_policy']).where('id', '=', flow.application_id).executeTakeFirst()
    : undefined;
  const need = await mfaNeed(ctx, user, { application: { tenantId: flow.tenant_id, mfaPolicy: application?.mfa_policy } });
  if (need !== 'none') {
    const mfaToken = await issueMfaToken(ctx, { userId: user.id, clientId: null, tenantId: flow.tenant_id, request: { amr }, need });
    return { kind: 'mfa', mfaToken, need };
  }
  const { token, session } = await openSession(ctx, user, { amr }, { ...actor, type: 'user', id: user.id });
  return { kind: 'session', token, sessionId: session.id, expiresAt: session.expires_at, session };
}
