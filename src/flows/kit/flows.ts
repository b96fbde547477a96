import { createHmac, randomInt } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { guardAttempt } from '../../authn/protection/guard.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { constantTimeEqual, randomToken, sha256 } from '../../platform/crypto/secrets.js';
import type { Database, FlowChannel, FlowKind, FlowsTable } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';

/**
 * Self-service flows (the Kratos design, docs/architecture.md#self-service-flows): registration, verification, recovery,
 * invitation, passwordless sign-in and email change are each a stored record with an id, a
 * state and an expiry. A hosted page and its JSON twin call the same domain functions on
 * the same record; the page only renders what the flow says.
 *
 * A flow may carry an emailed link (a random token, stored as SHA-256) and a one-time
 * code (six digits, stored as an HMAC bound to the flow). Both are spent by one
 * conditional update, so a link or a code works once, even when two requests race.
 */
export type Flow = Selectable<FlowsTable>;
type Db = Kysely<Database>;

/** How long each kind of flow lives, unless its creator says otherwise. */
export const FLOW_LIFETIME_MS: Record<FlowKind, number> = {
  registration: 60 * 60_000,
  verification: 24 * 3600_000,
  recovery: 15 * 60_000,
  invitation: 7 * 24 * 3600_000,
  passwordless: 10 * 60_000,
  email_change: 24 * 3600_000,
};

/** Wrong codes one flow accepts before its code is dead (the brute-force guard counts them too). */
export const MAX_CODE_ATTEMPTS = 5;
const LINK_PREFIX = 'ghf';
const CODE_DIGITS = 6;

export interface NewFlow {
  kind: FlowKind;
  state: string;
  channel: FlowChannel;
  tenantId?: string | null;
  applicationId?: string | null;
  userId?: string | null;
  email?: string | null;
  /** The browser binding cookie's value (browser flows): only that browser may submit the flow. */
  browser?: string | null;
  data?: Record<string, unknown>;
  returnTo?: string | null;
  locale?: string | null;
  lifetimeMs?: number;
  /** Issue an emailed link (its token is returned once, stored only as a hash). */
  link?: boolean;
  /** Issue a one-time code (returned once, stored only as an HMAC). */
  code?: boolean;
}

export interface CreatedFlow {
  flow: Flow;
  link?: string;
  code?: string;
}

const codeDigest = (ctx: AppContext, flowId: string, code: string) =>
  createHmac('sha256', ctx.masterKey).update(`flow-code\0${flowId}\0${code}`).digest('base64url');
export const browserDigest = (value: string) => sha256(`flow-browser\0${value}`).toString('base64url');
const linkDigest = (token: string) => sha256(token).toString('base64url');
const newCode = () => String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');

export async function createFlow(db: Db, ctx: AppContext, input: NewFlow): Promise<CreatedFlow> {
  const id = `flw_${ctx.ids.next().replaceAll('-', '')}`;
  const now = ctx.clock.now();
  const link = input.link ? randomToken(LINK_PREFIX) : undefined;
  const code = input.code ? newCode() : undefined;
  const flow = await db
    .insertInto('flows')
    .values({
      id,
      kind: input.kind,
      state: input.state,
      channel: input.channel,
      tenant_id: input.tenantId ?? null,
      application_id: input.applicationId ?? null,
      user_id: input.userId ?? null,
      email: input.email ?? null,
      browser_hash: input.browser ? browserDigest(input.browser) : null,
      link_hash: link ? linkDigest(link) : null,
      code_hash: code ? codeDigest(ctx, id, code) : null,
      data: JSON.stringify(input.data ?? {}),
      return_to: input.returnTo ?? null,
      locale: input.locale ?? null,
      expires_at: new Date(now.getTime() + (input.lifetimeMs ?? FLOW_LIFETIME_MS[input.kind])),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { flow, ...(link && { link }), ...(code && { code }) };
}

/**
 * A flow by id (of the expected kind, when one is given). An expired flow is `410 flow_expired` with the
 * flow's kind, so the caller can answer with a fresh one (`renewFlow`).
 */
export async function readFlow(db: Db, ctx: AppContext, id: string, kind?: FlowKind): Promise<Flow> {
  let query = db.selectFrom('flows').selectAll().where('id', '=', id);
  if (kind) query = query.where('kind', '=', kind);
  const flow = await query.executeTakeFirst();
  if (!flow) throw new AppError('flow_not_found', 'This flow does not exist; start again');
  if (flow.expires_at.getTime() <= ctx.clock.now().getTime()) {
    throw new AppError('flow_expired', 'This flow has expired; a new one was started', { kind: flow.kind, expired_flow: flow.id });
  }
  return flow;
}

/** A fresh flow in place of an expired one: same kind, channel, browser, tenant, application and destination. */
export async function renewFlow(
  db: Db,
  ctx: AppContext,
  expired: Flow,
  state: string,
  options: { browser?: string | null } = {},
): Promise<Flow> {
  const { flow } = await createFlow(db, ctx, {
    kind: expired.kind,
    state,
    channel: expired.channel,
    tenantId: expired.tenant_id,
    applicationId: expired.application_id,
    returnTo: expired.return_to,
    locale: expired.locale,
    browser: options.browser ?? null,
  });
  return flow;
}

/** A browser flow answers only the browser that started it (its binding cookie). */
export function assertFlowBrowser(flow: Flow, browser: string | undefined): void {
  if (flow.channel !== 'browser') return;
  const expected = Buffer.from(flow.browser_hash ?? '');
  if (!browser || !constantTimeEqual(Buffer.from(browserDigest(browser)), expected)) {
    throw new AppError('csrf_failed', 'This form belongs to another browser; start again');
  }
}

/** Moves a flow on: state and data change only if it is still in the state the caller read. */
export async function advanceFlow(
  db: Db,
  ctx: AppContext,
  flow: Flow,
  next: { state: string; data?: Record<string, unknown>; userId?: string | null; email?: string | null },
): Promise<Flow> {
  const updated = await db
    .updateTable('flows')
    .set({
      state: next.state,
      ...(next.data && { data: JSON.stringify(next.data) }),
      ...(next.userId !== undefined && { user_id: next.userId }),
      ...(next.email !== undefined && { email: next.email }),
      updated_at: ctx.clock.now(),
    })
    .where('id', '=', flow.id)
    .where('state', '=', flow.state)
    .returningAll()
    .executeTakeFirst();
  if (!updated) throw new AppError('flow_state', 'This flow has moved on in another window; reload it');
  return updated;
}

/**
 * The flow an emailed link points to, spent in the same step: the link's hash is cleared
 * (with the code's), so a second click finds nothing. Unknown, used and forged links are
 * all `link_invalid`; a link past its flow's expiry is `link_expired`.
 */
export async function spendLink(db: Db, ctx: AppContext, token: string, kind: FlowKind, nextState: string): Promise<Flow> {
  const now = ctx.clock.now();
  const spent = await db
    .updateTable('flows')
    .set({ link_hash: null, code_hash: null, state: nextState, updated_at: now })
    .where('link_hash', '=', linkDigest(token))
    .where('kind', '=', kind)
    .returningAll()
    .executeTakeFirst();
  if (!spent) throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
  if (spent.expires_at.getTime() <= now.getTime()) throw new AppError('link_expired', 'This link has expired; ask for a new one');
  return spent;
}

/** Looks at a link without spending it (a page that asks for a confirmation click first: mail scanners follow links). */
export async function peekLink(db: Db, ctx: AppContext, token: string, kind: FlowKind): Promise<Flow> {
  const flow = await db
    .selectFrom('flows')
    .selectAll()
    .where('link_hash', '=', linkDigest(token))
    .where('kind', '=', kind)
    .executeTakeFirst();
  if (!flow) throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
  if (flow.expires_at.getTime() <= ctx.clock.now().getTime())
    throw new AppError('link_expired', 'This link has expired; ask for a new one');
  return flow;
}

/**
 * Checks a one-time code typed for a flow and, when right, spends it (and the link) with
 * the move to `nextState`. Every try goes through the brute-force guard (kind `code`) and
 * counts against the flow: after MAX_CODE_ATTEMPTS wrong codes the code is dead.
 */
export async function spendCode(db: Db, ctx: AppContext, flow: Flow, code: string, actor: Actor, nextState: string): Promise<Flow> {
  const subject = {
    userId: flow.user_id,
    login: flow.email ?? flow.id,
    ip: actor.ip,
    tenantId: flow.tenant_id,
  };
  let spent: Flow | undefined;
  await guardAttempt(
    ctx,
    'code',
    subject,
    async () => {
      const expected = codeDigest(ctx, flow.id, code.trim());
      const now = ctx.clock.now();
      spent = await db
        .updateTable('flows')
        .set({ code_hash: null, link_hash: null, state: nextState, updated_at: now })
        .where('id', '=', flow.id)
        .where('code_hash', '=', expected)
        .where('code_attempts', '<', MAX_CODE_ATTEMPTS)
        .where('expires_at', '>', now)
        .returningAll()
        .executeTakeFirst();
      if (spent) return true;
      await db
        .updateTable('flows')
        .set((eb) => ({ code_attempts: eb('code_attempts', '+', 1) }))
        .where('id', '=', flow.id)
        .execute();
      return false;
    },
    () => new AppError('invalid_code', 'That code is not right, or it has expired'),
  );
  return spent as Flow;
}

/** The kinds of flow whose link or code went to the user's email address: they end when the address changes. */
export const EMAILED_FLOWS: FlowKind[] = ['verification', 'recovery', 'invitation', 'passwordless', 'email_change'];

/** Ends every open flow of a kind for a user (a new reset link voids the old; revoking an invitation). */
export async function closeFlows(db: Db, ctx: AppContext, userId: string, kinds: FlowKind[], state = 'cancelled'): Promise<void> {
  await db
    .updateTable('flows')
    .set({ link_hash: null, code_hash: null, state, updated_at: ctx.clock.now() })
    .where('user_id', '=', userId)
    .where('kind', 'in', kinds)
    .where((eb) => eb.or([eb('link_hash', 'is not', null), eb('code_hash', 'is not', null)]))
    .execute();
}

/** What a flow shows a custom UI (the API twin): never its hashes or binding. */
export function publicFlow(flow: Flow) {
  return {
    id: flow.id,
    kind: flow.kind,
    state: flow.state,
    expires_at: flow.expires_at.toISOString(),
    ...(flow.email && { email: flow.email }),
  };
}

/** Expired flows are kept a day (an "expired" answer can still name the kind), then deleted. */
const KEEP_EXPIRED_MS = 24 * 3600_000;

export async function pruneFlows(ctx: AppContext): Promise<number> {
  const before = new Date(ctx.clock.now().getTime() - KEEP_EXPIRED_MS);
  const result = await ctx.db.deleteFrom('flows').where('expires_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
