import { createHmac, randomInt } from 'node:crypto';
import { type Static, type TObject, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Kysely, Selectable } from 'kysely';
import { guardAttempt } from '../../authn/protection/guard.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { constantTimeEqual, randomToken, sha256 } from '../../platform/crypto/secrets.js';
import type { Database, FlowChannel, FlowKind, FlowsTable } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';

/**
 * Self-service flows (the Kratos design, docs/architecture.md#self-service-flows):
 * registration, verification, recovery, invitation, passwordless sign-in and email change
 * are each a stored record with an id, a state and an expiry. A hosted page and its JSON
 * twin call the same domain functions on the same record; the page only renders what the
 * flow says.
 *
 * Each kind declares its states and the schema of its data once, in its folder's `flow.ts`
 * (a `FlowType`); every read checks the row against it, so a caller gets a
 * `Flow<Kind, State, Data>` and never casts. Moving a flow on names a state of its kind.
 *
 * A flow may carry an emailed link (a random token, stored as SHA-256) and a one-time
 * code (six digits, stored as an HMAC bound to the flow). Both are spent by one
 * conditional update, so a link or a code works once, even when two requests race.
 */
type Row = Selectable<FlowsTable>;
type Db = Kysely<Database>;

/** What one kind of flow declares (src/flows/<flow>/flow.ts): its kind, every state it can be in, its data's schema. */
export interface FlowType<K extends FlowKind = FlowKind, S extends string = string, D extends TObject = TObject> {
  kind: K;
  states: readonly S[];
  data: D;
}

export const flowType = <K extends FlowKind, S extends string, D extends TObject>(
  kind: K,
  states: readonly S[],
  data: D,
): FlowType<K, S, D> => ({
  kind,
  states,
  data,
});

/** A stored flow of one kind: its state one of the kind's states, its data of the kind's shape. */
export type Flow<K extends FlowKind = FlowKind, S extends string = string, D = unknown> = Omit<Row, 'kind' | 'state' | 'data'> & {
  kind: K;
  state: S;
  data: D;
};

/** The flow a `FlowType` describes. */
export type FlowOf<T> = T extends FlowType<infer K, infer S, infer D> ? Flow<K, S, Static<D>> : never;

/**
 * A row as a flow of its type. The row was written through this module, so a mismatch is
 * a bug (or a state a kind forgot to declare), never a user's doing: it fails loudly.
 */
export function flowOf<K extends FlowKind, S extends string, D extends TObject>(type: FlowType<K, S, D>, row: Row): Flow<K, S, Static<D>> {
  const state = type.states.find((s) => s === row.state);
  const data: unknown = row.data;
  if (row.kind !== type.kind || state === undefined || !Value.Check(type.data, data)) {
    throw new Error(`Flow ${row.id} (${row.kind}, ${row.state}) does not match its declared type ${type.kind}`);
  }
  return { ...row, kind: type.kind, state, data };
}

/**
 * The end of a flow that signs the user in (flow-kit.ts, signInAndReturn): for an
 * authorization request it records who proved what (`returning`), and the interaction's
 * finish step takes it once (`done`). A kind that signs in declares these states and a
 * `proved` field in its data.
 */
export const RETURNING = ['returning', 'done'] as const;
export type Returning = (typeof RETURNING)[number];
export const Proof = Type.Object({
  user_id: Type.String(),
  amr: Type.Array(Type.String()),
  /** The account's second factor is asked for whenever it has one, even where no policy would (linking an identity, decision 266). */
  second_factor: Type.Optional(Type.Boolean()),
  /** The federation connection the user signed in through: the session remembers it (`/v2/logout?federated`). */
  connection_id: Type.Optional(Type.String()),
});
export type Proof = Static<typeof Proof>;
const Proved = Type.Object({ proved: Proof });

/** How long each kind of flow lives, unless its creator says otherwise. */
export const FLOW_LIFETIME_MS: Record<FlowKind, number> = {
  registration: 60 * 60_000,
  verification: 24 * 3600_000,
  recovery: 15 * 60_000,
  invitation: 7 * 24 * 3600_000,
  passwordless: 10 * 60_000,
  email_change: 24 * 3600_000,
  federation: 15 * 60_000,
};

/** Wrong codes one flow accepts before its code is dead (the brute-force guard counts them too). */
export const MAX_CODE_ATTEMPTS = 5;
const LINK_PREFIX = 'ghf';
const CODE_DIGITS = 6;

export type NewFlow<S extends string, D> = {
  state: S;
  channel: FlowChannel;
  tenantId?: string | null;
  applicationId?: string | null;
  userId?: string | null;
  email?: string | null;
  /** The browser binding cookie's value (browser flows): only that browser may submit the flow. */
  browser?: string | null;
  returnTo?: string | null;
  locale?: string | null;
  lifetimeMs?: number;
  /** Issue an emailed link (its token is returned once, stored only as a hash). */
  link?: boolean;
  /** Issue a one-time code (returned once, stored only as an HMAC). */
  code?: boolean;
  // Data a kind's every field of which is optional may be left out.
} & (Partial<D> extends D ? { data?: D } : { data: D });

export interface CreatedFlow<F> {
  flow: F;
  link?: string;
  code?: string;
}

const codeDigest = (ctx: AppContext, flowId: string, code: string) =>
  createHmac('sha256', ctx.masterKey).update(`flow-code\0${flowId}\0${code}`).digest('base64url');
export const browserDigest = (value: string) => sha256(`flow-browser\0${value}`).toString('base64url');
const linkDigest = (token: string) => sha256(token).toString('base64url');
const newCode = () => String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');

export async function createFlow<K extends FlowKind, S extends string, D extends TObject>(
  db: Db,
  ctx: AppContext,
  type: FlowType<K, S, D>,
  input: NewFlow<S, Static<D>>,
): Promise<CreatedFlow<Flow<K, S, Static<D>>>> {
  const id = `flw_${ctx.ids.next().replaceAll('-', '')}`;
  const now = ctx.clock.now();
  const link = input.link ? randomToken(LINK_PREFIX) : undefined;
  const code = input.code ? newCode() : undefined;
  const row = await db
    .insertInto('flows')
    .values({
      id,
      kind: type.kind,
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
      expires_at: new Date(now.getTime() + (input.lifetimeMs ?? FLOW_LIFETIME_MS[type.kind])),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { flow: flowOf(type, row), ...(link && { link }), ...(code && { code }) };
}

/** `410 flow_expired`, naming the flow's kind, so the caller can answer with a fresh one. */
export const expiredError = (flow: Pick<Row, 'id' | 'kind'>) =>
  new AppError('flow_expired', 'This flow has expired; a new one was started', { kind: flow.kind, expired_flow: flow.id });

/**
 * A flow of a type by id, expired or not (`flow_not_found` when there is none of that kind):
 * for a caller that answers an expired flow with a fresh one.
 */
export async function openFlow<K extends FlowKind, S extends string, D extends TObject>(
  db: Db,
  ctx: AppContext,
  type: FlowType<K, S, D>,
  id: string,
): Promise<{ flow: Flow<K, S, Static<D>>; expired: boolean }> {
  const row = await db.selectFrom('flows').selectAll().where('id', '=', id).where('kind', '=', type.kind).executeTakeFirst();
  if (!row) throw new AppError('flow_not_found', 'This flow does not exist; start again');
  return { flow: flowOf(type, row), expired: row.expires_at.getTime() <= ctx.clock.now().getTime() };
}

/**
 * A flow of a type by id. An expired flow is `410 flow_expired` with the flow's kind, so the
 * caller can answer with a fresh one.
 */
export async function readFlow<K extends FlowKind, S extends string, D extends TObject>(
  db: Db,
  ctx: AppContext,
  type: FlowType<K, S, D>,
  id: string,
): Promise<Flow<K, S, Static<D>>> {
  const { flow, expired } = await openFlow(db, ctx, type, id);
  if (expired) throw expiredError(flow);
  return flow;
}

/** A browser flow answers only the browser that started it (its binding cookie). */
export function assertFlowBrowser(flow: Pick<Row, 'channel' | 'browser_hash'>, browser: string | undefined): void {
  if (flow.channel !== 'browser') return;
  const expected = Buffer.from(flow.browser_hash ?? '');
  if (!browser || !constantTimeEqual(Buffer.from(browserDigest(browser)), expected)) {
    throw new AppError('csrf_failed', 'This form belongs to another browser; start again');
  }
}

/** Moves a flow on to a state of its kind: state and data change only if it is still in the state the caller read. */
export async function advanceFlow<K extends FlowKind, S extends string, D>(
  db: Db,
  ctx: AppContext,
  flow: Flow<K, S, D>,
  next: { state: S; data?: D; userId?: string | null; email?: string | null },
): Promise<Flow<K, S, D>> {
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
  return { ...updated, kind: flow.kind, state: next.state, data: next.data ?? flow.data };
}

/**
 * The flow an emailed link points to, spent in the same step: the link's hash is cleared
 * (with the code's), so a second click finds nothing. Unknown, used and forged links are
 * all `link_invalid`; a link past its flow's expiry is `link_expired`.
 */
export async function spendLink<K extends FlowKind, S extends string, D extends TObject>(
  db: Db,
  ctx: AppContext,
  type: FlowType<K, S, D>,
  token: string,
  nextState: S,
): Promise<Flow<K, S, Static<D>>> {
  const now = ctx.clock.now();
  const spent = await db
    .updateTable('flows')
    .set({ link_hash: null, code_hash: null, state: nextState, updated_at: now })
    .where('link_hash', '=', linkDigest(token))
    .where('kind', '=', type.kind)
    .returningAll()
    .executeTakeFirst();
  if (!spent) throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
  if (spent.expires_at.getTime() <= now.getTime()) throw new AppError('link_expired', 'This link has expired; ask for a new one');
  return flowOf(type, spent);
}

/** Looks at a link without spending it (a page that asks for a confirmation click first: mail scanners follow links). */
export async function peekLink<K extends FlowKind, S extends string, D extends TObject>(
  db: Db,
  ctx: AppContext,
  type: FlowType<K, S, D>,
  token: string,
): Promise<Flow<K, S, Static<D>>> {
  const row = await db
    .selectFrom('flows')
    .selectAll()
    .where('link_hash', '=', linkDigest(token))
    .where('kind', '=', type.kind)
    .executeTakeFirst();
  if (!row) throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
  if (row.expires_at.getTime() <= ctx.clock.now().getTime()) throw new AppError('link_expired', 'This link has expired; ask for a new one');
  return flowOf(type, row);
}

/**
 * Checks a one-time code typed for a flow and, when right, spends it (and the link) with
 * the move to `nextState`. Every try goes through the brute-force guard (kind `code`) and
 * counts against the flow: after MAX_CODE_ATTEMPTS wrong codes the code is dead.
 */
export async function spendCode<K extends FlowKind, S extends string, D>(
  db: Db,
  ctx: AppContext,
  flow: Flow<K, S, D>,
  code: string,
  actor: Actor,
  nextState: S,
): Promise<Flow<K, S, D>> {
  const subject = {
    userId: flow.user_id,
    login: flow.email ?? flow.id,
    ip: actor.ip,
    tenantId: flow.tenant_id,
  };
  const invalid = () => new AppError('invalid_code', 'That code is not right, or it has expired');
  let spent: Row | undefined;
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
    invalid,
  );
  // The guard returns only after a right code (it throws on a wrong one), so the flow was spent.
  if (!spent) throw invalid();
  return { ...spent, kind: flow.kind, state: nextState, data: flow.data };
}

/** The kinds of flow whose link or code went to the user's email address: they end when the address changes. */
export const EMAILED_FLOWS: FlowKind[] = ['verification', 'recovery', 'invitation', 'passwordless', 'email_change'];

/** Ends every open flow of these kinds for a user (a new reset link voids the old): each such kind declares `cancelled`. */
export async function closeFlows(db: Db, ctx: AppContext, userId: string, kinds: FlowKind[]): Promise<void> {
  await db
    .updateTable('flows')
    .set({ link_hash: null, code_hash: null, state: 'cancelled', updated_at: ctx.clock.now() })
    .where('user_id', '=', userId)
    .where('kind', 'in', kinds)
    .where((eb) => eb.or([eb('link_hash', 'is not', null), eb('code_hash', 'is not', null)]))
    .execute();
}

/**
 * Who a flow of any kind proved for the interaction it returns to (flow-kit.ts,
 * returningUser), taken once: the flow must be `returning` to exactly `returnTo`, and
 * moves to `done` in the same step. `check` runs on the flow first (its browser).
 */
export async function takeProof(
  db: Db,
  ctx: AppContext,
  id: string,
  returnTo: string,
  check: (flow: Pick<Row, 'channel' | 'browser_hash'>) => void,
): Promise<Proof> {
  const row = await db.selectFrom('flows').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new AppError('flow_not_found', 'This flow does not exist; start again');
  if (row.expires_at.getTime() <= ctx.clock.now().getTime()) throw expiredError(row);
  check(row);
  const data: unknown = row.data;
  if (row.state !== 'returning' || row.return_to !== returnTo || !Value.Check(Proved, data)) {
    throw new AppError('flow_state', 'This sign-in has finished or belongs to another request; start again');
  }
  const taken = await db
    .updateTable('flows')
    .set({ state: 'done', updated_at: ctx.clock.now() })
    .where('id', '=', row.id)
    .where('state', '=', 'returning')
    .executeTakeFirst();
  if (Number(taken.numUpdatedRows) !== 1) throw new AppError('flow_state', 'This flow has moved on in another window; reload it');
  return data.proved;
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
