import { sql } from 'kysely';
import { systemTenantId } from '../../directory/permissions/effective.js';
import { metadataProblem } from '../../directory/users/metadata.js';
import { recordAudit, SYSTEM_ACTOR } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { ActionRuntime, OnError } from '../../platform/db/schema.js';
import { destinationPolicy } from '../../platform/http/destinations.js';
import { checkedFetch } from '../../platform/http/outbound.js';
import type { ActionRunner, Trigger, TriggerInput, TriggerResult } from '../../platform/ports/actions.js';
import { ShortCache } from '../../platform/short-cache.js';
import { SIGNATURE_HEADER, signatureHeader } from '../webhooks/signature.js';
import { unsealSecrets } from './actions.js';
import { createSandbox, type Sandbox } from './sandbox/sandbox.js';
import { RESERVED_CLAIMS, TRIGGER_SHAPES } from './triggers.js';

/**
 * The dispatcher (decision 344): the actions bound to a trigger, the system's first and then
 * the tenant's, each in its list's order, one after the other. The bindings with their
 * deployed code are cached per node until the change feed reports a change, so a trigger with
 * nothing bound costs a map lookup. Each action runs in its tenant's sandbox (JavaScript) or
 * is POSTed the event (HTTP); its commands are checked and applied here; a throw, a time-out
 * or a bad answer denies unless its binding says `on_error: continue`. Every run is recorded
 * (duration, outcome, console output); a denial and a failure are audited with their reason.
 */

export const SANDBOX_MEMORY_BYTES = 64 * 1024 * 1024;
/** Runs are kept a week (GET /actions/:id/executions), pruned by each node every so many runs. */
const EXECUTIONS_KEPT_MS = 7 * 24 * 3600 * 1000;
const PRUNE_EVERY = 500;

/** A bound action as the node keeps it: its deployed version and sealed secrets. */
export interface BoundAction {
  id: string;
  name: string;
  tenantId: string | null;
  runtime: ActionRuntime;
  version: number;
  code: string | null;
  url: string | null;
  timeoutMs: number;
  secretsSealed: string | null;
  onError: OnError;
}

/** What one run of one action did. */
export interface ActionRun {
  outcome: 'ok' | 'error' | 'timeout' | 'memory';
  commands: unknown[][];
  logs: string[];
  error?: string | undefined;
  durationMs: number;
}

export interface ActionsEngine extends ActionRunner {
  /** Runs one action on an event (the dry run of POST /actions/:id/test, and every binding). */
  execute(action: Omit<BoundAction, 'onError'>, trigger: Trigger, event: Record<string, unknown>): Promise<ActionRun>;
  /** The event a trigger point's input makes (the dry run's defaults). */
  event(trigger: Trigger, input: TriggerInput): Promise<Record<string, unknown>>;
  record(action: Omit<BoundAction, 'onError'>, trigger: Trigger, run: ActionRun, dryRun?: boolean): Promise<void>;
}

const key = (trigger: string, tenantId: string | null) => `${trigger}|${tenantId ?? ''}`;

const engines = new WeakMap<AppContext, ActionsEngine>();
/** The node's engine (the routes' dry run and recorded runs). */
export function engineOf(ctx: AppContext): ActionsEngine {
  const engine = engines.get(ctx);
  if (!engine) throw new Error('No actions engine was created for this context');
  return engine;
}

export function createActionsEngine(ctx: AppContext): ActionsEngine {
  const cache = new ShortCache<Map<string, BoundAction[]>>(60_000, {
    feed: ctx.changes,
    topics: ['actions', 'action_versions', 'trigger_bindings'],
  });
  let sandbox: Sandbox | undefined;
  const httpFetch = checkedFetch(destinationPolicy(ctx.config.webhookAllowedNetworks), 30_000);

  async function loadBindings(): Promise<Map<string, BoundAction[]>> {
    const rows = await ctx.db
      .selectFrom('trigger_bindings as b')
      .innerJoin('actions as a', 'a.id', 'b.action_id')
      .innerJoin('action_versions as v', (join) => join.onRef('v.action_id', '=', 'a.id').onRef('v.version', '=', 'a.deployed_version'))
      .select([
        'b.trigger',
        'b.tenant_id',
        'b.on_error',
        'a.id',
        'a.name',
        'a.tenant_id as action_tenant',
        'a.runtime',
        'a.secrets_sealed',
        'v.version',
        'v.code',
        'v.url',
        'v.timeout_ms',
      ])
      .orderBy('b.trigger')
      .orderBy('b.position')
      .execute();
    const map = new Map<string, BoundAction[]>();
    for (const row of rows) {
      // A binding never runs another owner's action (the API refuses one; this holds whatever wrote the rows).
      if (row.action_tenant !== row.tenant_id) continue;
      const list = map.get(key(row.trigger, row.tenant_id)) ?? [];
      list.push({
        id: row.id,
        name: row.name,
        tenantId: row.action_tenant,
        runtime: row.runtime,
        version: row.version,
        code: row.code,
        url: row.url,
        timeoutMs: row.timeout_ms,
        secretsSealed: row.secrets_sealed,
        onError: row.on_error,
      });
      map.set(key(row.trigger, row.tenant_id), list);
    }
    return map;
  }

  function sandboxOf(): Sandbox {
    sandbox ??= createSandbox({
      memoryBytes: SANDBOX_MEMORY_BYTES,
      allowedNetworks: ctx.config.webhookAllowedNetworks,
      fetchTimeoutMs: 10_000,
    });
    return sandbox;
  }

  async function execute(action: Omit<BoundAction, 'onError'>, trigger: Trigger, event: Record<string, unknown>): Promise<ActionRun> {
    const { secrets, signing } = unsealSecrets(ctx, action.id, action.secretsSealed);
    if (action.runtime === 'js') {
      const shape = TRIGGER_SHAPES[trigger];
      const result = await sandboxOf().run({
        // One sandbox per tenant, one for the system's actions: never shared between tenants.
        sandbox: action.tenantId ?? 'system',
        code: action.code ?? '',
        handler: shape.handler,
        api: shape.api,
        event: { ...event, secrets },
        timeoutMs: action.timeoutMs,
      });
      const hide = masking(secrets);
      return {
        outcome: result.outcome,
        commands: result.commands,
        logs: result.logs.map(hide),
        ...(result.error !== undefined && { error: hide(result.error) }),
        durationMs: result.durationMs,
      };
    }
    return executeHttp(action, trigger, event, signing ?? '');
  }

  async function executeHttp(
    action: Omit<BoundAction, 'onError'>,
    trigger: Trigger,
    event: Record<string, unknown>,
    signing: string,
  ): Promise<ActionRun> {
    const started = performance.now();
    const body = JSON.stringify({ trigger, action_id: action.id, event });
    const timestamp = Math.floor(ctx.clock.now().getTime() / 1000);
    const ms = () => Math.round(performance.now() - started);
    try {
      const answer = await httpFetch(action.url ?? '', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Action/1',
          'gatehouse-trigger': trigger,
          [SIGNATURE_HEADER]: signatureHeader(signing, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(action.timeoutMs),
      });
      const text = await answer.text();
      if (answer.status < 200 || answer.status >= 300)
        return { outcome: 'error', commands: [], logs: [], error: `HTTP ${answer.status}`, durationMs: ms() };
      const parsed = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the answer is not a JSON object');
      return { outcome: 'ok', commands: httpCommands(parsed as Record<string, unknown>), logs: [], durationMs: ms() };
    } catch (error) {
      const message = (error as Error).message;
      const timeout = /no answer within|timeout|aborted/i.test(message) || ms() >= action.timeoutMs;
      return { outcome: timeout ? 'timeout' : 'error', commands: [], logs: [], error: message.slice(0, 500), durationMs: ms() };
    }
  }

  async function record(action: BoundAction | Omit<BoundAction, 'onError'>, trigger: Trigger, run: ActionRun, dryRun = false) {
    await ctx.db
      .insertInto('action_executions')
      .values({
        id: ctx.ids.next(),
        action_id: action.id,
        tenant_id: action.tenantId,
        trigger,
        version: action.version,
        outcome: run.outcome,
        duration_ms: run.durationMs,
        error: run.error ?? null,
        logs: JSON.stringify(run.logs),
        dry_run: dryRun,
        created_at: ctx.clock.now(),
      })
      .execute()
      // The record of a run never fails the sign-in (an action deleted meanwhile, say).
      .catch((error) => ctx.log.warn({ err: error, action_id: action.id }, 'An action run was not recorded'));
    // Every so many runs, this node drops the records older than the retention (7 days).
    if (++recorded % PRUNE_EVERY === 0) {
      await ctx.db
        .deleteFrom('action_executions')
        .where('created_at', '<', new Date(ctx.clock.now().getTime() - EXECUTIONS_KEPT_MS))
        .execute()
        .catch((error) => ctx.log.warn({ err: error }, 'Old action runs were not pruned'));
    }
  }

  let systemTenant: Promise<string> | undefined;
  let recorded = 0;

  async function run(trigger: Trigger, input: TriggerInput): Promise<TriggerResult> {
    const bindings = await cache.get('all', loadBindings);
    let own = input.tenantId ? (bindings.get(key(trigger, input.tenantId)) ?? []) : [];
    // A text carries a code that signs in (passwordless) or passes a second factor: a tenant's
    // send-phone-message actions read the texts of that tenant's own accounts only; an account
    // homed elsewhere or shared with another tenant gets its text from the system's sender.
    if (trigger === 'send-phone-message' && own.length > 0 && input.tenantId && input.userId) {
      if (await sharedAccount(ctx, input.userId, input.tenantId)) own = [];
    }
    const list = [...(bindings.get(key(trigger, null)) ?? []), ...own];
    const result: TriggerResult = { accessTokenClaims: {}, idTokenClaims: {}, mfa: false, ran: 0 };
    if (list.length === 0) return result;
    // The system tenant's own sign-ins run none (decision 347): no action can lock out the administrators who would fix it.
    systemTenant ??= systemTenantId(ctx.db);
    if (input.tenantId && input.tenantId === (await systemTenant.catch(() => undefined))) return result;
    // The costlier parts of the event are read only when a bound action can look at them (decision 348).
    const wants = (word: string) => list.some((a) => a.runtime === 'http' || (a.code ?? '').includes(word));
    const event = await buildEvent(ctx, trigger, input, { stats: wants('logins_count'), identities: wants('identities') });
    let appMetadata: Record<string, unknown> | undefined;
    let userMetadata: Record<string, unknown> | undefined;
    // A tenant's action changes the metadata of that tenant's own accounts only: an account homed
    // elsewhere or a member of another tenant too is out of its reach, as it is out of its
    // administrators' (decision 180).
    const shared =
      input.userId && input.tenantId && list.some((a) => a.tenantId !== null)
        ? await sharedAccount(ctx, input.userId, input.tenantId)
        : false;
    for (const action of list) {
      const outcome = await execute(action, trigger, event);
      result.ran++;
      await record(action, trigger, outcome);
      if (outcome.outcome !== 'ok') {
        const reason =
          outcome.outcome === 'timeout'
            ? 'the action ran out of time'
            : outcome.outcome === 'memory'
              ? 'the action ran out of memory'
              : 'the action failed';
        await audit(ctx, 'iam.action.failed', action, input, {
          trigger,
          outcome: outcome.outcome,
          error: outcome.error,
          on_error: action.onError,
        });
        if (action.onError === 'continue') continue;
        result.denied = { reason: `${action.name}: ${reason}` };
        break;
      }
      const applied = applyCommands(
        trigger,
        outcome.commands,
        result,
        {
          app: appMetadata ?? { ...((event.user as { app_metadata?: Record<string, unknown> })?.app_metadata ?? {}) },
          user: userMetadata ?? { ...((event.user as { user_metadata?: Record<string, unknown> })?.user_metadata ?? {}) },
        },
        { metadataLocked: shared && action.tenantId !== null },
      );
      if (applied.problem) {
        await audit(ctx, 'iam.action.failed', action, input, {
          trigger,
          outcome: 'error',
          error: applied.problem,
          on_error: action.onError,
        });
        if (action.onError === 'continue') continue;
        result.denied = { reason: `${action.name}: the action failed` };
        break;
      }
      if (applied.appChanged) appMetadata = applied.app;
      if (applied.userChanged) userMetadata = applied.user;
      if (result.denied) {
        await audit(ctx, 'iam.action.denied', action, input, { trigger, reason: result.denied.reason });
        break;
      }
    }
    if (appMetadata) result.appMetadata = appMetadata;
    if (userMetadata) result.userMetadata = userMetadata;
    // A sign-in's metadata changes are the stored user's (pre-user-registration's go into the new account).
    if (input.userId && (appMetadata || userMetadata) && !result.denied) {
      await ctx.db
        .updateTable('users')
        .set({
          ...(appMetadata && { app_metadata: JSON.stringify(appMetadata) }),
          ...(userMetadata && { user_metadata: JSON.stringify(userMetadata) }),
        })
        .where('id', '=', input.userId)
        .execute();
    }
    return result;
  }

  const engine: ActionsEngine = {
    run,
    execute,
    record,
    event: (trigger, input) => buildEvent(ctx, trigger, input),
    async close() {
      await sandbox?.close();
      sandbox = undefined;
    },
  };
  engines.set(ctx, engine);
  return engine;
}

async function audit(
  ctx: AppContext,
  action: 'iam.action.denied' | 'iam.action.failed',
  bound: BoundAction,
  input: TriggerInput,
  details: Record<string, unknown>,
) {
  await recordAudit(ctx.db, ctx, {
    action,
    actor: { ...SYSTEM_ACTOR, ip: input.request?.ip ?? null, userAgent: input.request?.user_agent ?? null },
    tenantId: input.tenantId,
    outcome: 'failure',
    target: { type: 'action', id: bound.id },
    details: {
      ...details,
      action: bound.name,
      ...(input.userId && { user_id: input.userId }),
      ...(input.clientId && { client_id: input.clientId }),
    },
  });
}

/** The account is homed in another tenant (or none) or is a member of another tenant too. */
async function sharedAccount(ctx: AppContext, userId: string, tenantId: string): Promise<boolean> {
  const user = await ctx.db.selectFrom('users').select('home_tenant_id').where('id', '=', userId).executeTakeFirst();
  if (!user || user.home_tenant_id !== tenantId) return true;
  const elsewhere = await ctx.db
    .selectFrom('memberships')
    .select('tenant_id')
    .where('user_id', '=', userId)
    .where('tenant_id', '!=', tenantId)
    .executeTakeFirst();
  return elsewhere !== undefined;
}

/** An HTTP action's answer as the commands of the JavaScript api. */
function httpCommands(answer: Record<string, unknown>): unknown[][] {
  const commands: unknown[][] = [];
  if (typeof answer.deny === 'string') commands.push(['access.deny', answer.deny]);
  for (const [field, path] of [
    ['access_token_claims', 'accessToken.setCustomClaim'],
    ['id_token_claims', 'idToken.setCustomClaim'],
  ] as const) {
    const claims = answer[field];
    if (claims && typeof claims === 'object') for (const [name, value] of Object.entries(claims)) commands.push([path, name, value]);
  }
  for (const [field, path] of [
    ['app_metadata', 'user.setAppMetadata'],
    ['user_metadata', 'user.setUserMetadata'],
  ] as const) {
    const values = answer[field];
    if (values && typeof values === 'object') for (const [name, value] of Object.entries(values)) commands.push([path, name, value]);
  }
  if (answer.mfa === true) commands.push(['multifactor.enable', 'any']);
  return commands;
}

const CLAIM_MAX_BYTES = 4096;

/**
 * Applies an action's commands to the result; a command the trigger does not offer, a
 * reserved claim, an oversized value or metadata over 16 KB is a failure of the action.
 */
export function applyCommands(
  trigger: Trigger,
  commands: unknown[][],
  result: TriggerResult,
  metadata: { app: Record<string, unknown>; user: Record<string, unknown> },
  options: { metadataLocked?: boolean } = {},
): { problem?: string; app: Record<string, unknown>; user: Record<string, unknown>; appChanged: boolean; userChanged: boolean } {
  const offered = new Set(TRIGGER_SHAPES[trigger].api);
  let appChanged = false;
  let userChanged = false;
  const fail = (problem: string) => ({ problem, ...metadata, appChanged, userChanged });
  for (const command of commands) {
    const [path, ...args] = command as [string, ...unknown[]];
    if (!offered.has(path)) return fail(`api.${String(path)} is not offered at ${trigger}`);
    switch (path) {
      case 'access.deny': {
        // post-login: deny(reason); pre-user-registration: deny(reason, userMessage); credentials-exchange: deny(code, reason).
        const texts = args.filter((a): a is string => typeof a === 'string');
        const reason = (trigger === 'post-login' ? texts[0] : (texts[1] ?? texts[0])) ?? 'Access denied';
        result.denied ??= { reason: reason.slice(0, 500), ...(trigger === 'credentials-exchange' && texts[1] && { code: texts[0] }) };
        break;
      }
      case 'accessToken.setCustomClaim':
      case 'idToken.setCustomClaim': {
        const [name, value] = args;
        if (typeof name !== 'string' || name.length === 0 || name.length > 256) return fail('a claim name must be a string');
        if (RESERVED_CLAIMS.has(name)) return fail(`the claim ${name} is reserved`);
        if (value !== undefined && Buffer.byteLength(JSON.stringify(value) ?? '') > CLAIM_MAX_BYTES)
          return fail(`the claim ${name} is over 4 KB`);
        (path === 'accessToken.setCustomClaim' ? result.accessTokenClaims : result.idTokenClaims)[name] = value;
        break;
      }
      case 'multifactor.enable':
        result.mfa = true;
        break;
      case 'user.setAppMetadata':
      case 'user.setUserMetadata': {
        const [name, value] = args;
        if (typeof name !== 'string' || name.length === 0) return fail('a metadata key must be a string');
        if (options.metadataLocked) return fail('the user belongs to another tenant too: its metadata is not this tenant’s to change');
        const target = path === 'user.setAppMetadata' ? metadata.app : metadata.user;
        if (value === undefined || value === null) delete target[name];
        else target[name] = value;
        const problem = metadataProblem(path === 'user.setAppMetadata' ? 'app_metadata' : 'user_metadata', target);
        if (problem) return fail(problem);
        if (path === 'user.setAppMetadata') appChanged = true;
        else userChanged = true;
        break;
      }
    }
  }
  return { ...metadata, appChanged, userChanged };
}

/** The tenant and application of an event, cached per node until the change feed reports a change to them. */
const eventLookups = new WeakMap<
  AppContext,
  {
    tenants: ShortCache<{ id: string; slug: string; name: string } | undefined>;
    clients: ShortCache<{ client_id: string; name: string } | undefined>;
  }
>();
function lookupsOf(ctx: AppContext) {
  let lookups = eventLookups.get(ctx);
  if (!lookups) {
    lookups = {
      tenants: new ShortCache(60_000, { feed: ctx.changes, topics: ['tenants'] }),
      clients: new ShortCache(60_000, { feed: ctx.changes, topics: ['applications'] }),
    };
    eventLookups.set(ctx, lookups);
  }
  return lookups;
}

/** Auth0's `event` for a trigger point's input (decision 343). */
export async function buildEvent(
  ctx: AppContext,
  trigger: Trigger,
  input: TriggerInput,
  parts: { stats: boolean; identities: boolean } = { stats: true, identities: true },
): Promise<Record<string, unknown>> {
  const lookups = lookupsOf(ctx);
  const [user, tenant, client] = await Promise.all([
    input.userId ? ctx.db.selectFrom('users').selectAll().where('id', '=', input.userId).executeTakeFirst() : undefined,
    input.tenantId
      ? lookups.tenants.get(input.tenantId, () =>
          ctx.db
            .selectFrom('tenants')
            .select(['id', 'slug', 'name'])
            .where('id', '=', input.tenantId as string)
            .executeTakeFirst(),
        )
      : undefined,
    input.clientId
      ? lookups.clients.get(input.clientId, () =>
          ctx.db
            .selectFrom('applications')
            .select(['client_id', 'name'])
            .where('client_id', '=', input.clientId as string)
            .executeTakeFirst(),
        )
      : undefined,
  ]);
  const [roles, identities, logins] =
    user && input.userId
      ? await Promise.all([
          input.tenantId
            ? ctx.db
                .selectFrom('membership_roles as mr')
                .innerJoin('roles as r', 'r.id', 'mr.role_id')
                .select('r.name')
                .where('mr.user_id', '=', input.userId)
                .where('mr.tenant_id', '=', input.tenantId)
                .orderBy('r.name')
                .execute()
            : [],
          !parts.identities
            ? []
            : ctx.db
                .selectFrom('user_identities as i')
                .innerJoin('connections as c', 'c.id', 'i.connection_id')
                .select(['c.name', 'i.provider', 'i.subject'])
                .where('i.user_id', '=', input.userId)
                .execute(),
          !parts.stats
            ? undefined
            : ctx.db
                .selectFrom('audit_events')
                .select(sql<string>`count(*)`.as('n'))
                .where('target_id', '=', input.userId)
                .where('action', '=', 'iam.user.loginSucceeded')
                .executeTakeFirst(),
        ])
      : [[], [], undefined];
  const event: Record<string, unknown> = {
    ...(user && {
      user: {
        user_id: user.id,
        id: user.id,
        email: user.email,
        email_verified: user.email_verified,
        username: user.username,
        name: user.name,
        given_name: user.given_name,
        family_name: user.family_name,
        picture: user.picture,
        phone_number: user.phone,
        phone_verified: user.phone_verified,
        locale: user.locale,
        created_at: user.created_at.toISOString(),
        last_login: user.last_login_at?.toISOString() ?? null,
        app_metadata: user.app_metadata,
        user_metadata: user.user_metadata,
        identities: [
          ...(user.password_hash
            ? [{ connection: 'Username-Password-Authentication', provider: 'auth0', user_id: user.id, isSocial: false }]
            : []),
          ...identities.map((i) => ({ connection: i.name, provider: i.provider, user_id: i.subject, isSocial: i.provider !== 'samlp' })),
        ],
      },
    }),
    ...(input.newUser && { user: { app_metadata: {}, user_metadata: {}, ...input.newUser } }),
    ...(tenant && { organization: { id: tenant.id, name: tenant.slug, display_name: tenant.name }, tenant: { id: tenant.id } }),
    ...(client && { client: { client_id: client.client_id, name: client.name } }),
    connection: input.connection ?? { name: 'Username-Password-Authentication', strategy: 'auth0' },
    request: { ip: input.request?.ip ?? null, user_agent: input.request?.user_agent ?? null, language: input.request?.language ?? null },
    ...(trigger === 'post-login' || trigger === 'credentials-exchange' ? { authorization: { roles: roles.map((r) => r.name) } } : {}),
    ...(input.transaction && { transaction: input.transaction }),
    ...(logins && { stats: { logins_count: Number(logins.n) } }),
    ...input.extra,
  };
  return event;
}

/**
 * What an action prints or throws is kept (executions, the dry run's answer), its secrets never:
 * each secret's value is written as `[secret NAME]` wherever it appears.
 */
function masking(secrets: Record<string, string>): (text: string) => string {
  const values = Object.entries(secrets)
    .filter(([, value]) => typeof value === 'string' && value.length > 0)
    .sort(([, a], [, b]) => b.length - a.length);
  if (values.length === 0) return (text) => text;
  return (text) => values.reduce((out, [name, value]) => out.split(value).join(`[secret ${name}]`), text);
}
