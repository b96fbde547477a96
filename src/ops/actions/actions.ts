import { inScope, listedTenant, owningTenant, type Scope } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { randomToken, seal, unseal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Action, ActionRuntime, ActionVersion, OnError } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { checkWebhookUrl, destinationPolicy } from '../../platform/http/destinations.js';
import { TRIGGERS, type Trigger } from '../../platform/ports/actions.js';

/**
 * Actions and their versions, secrets and bindings (decisions 342-346). An action belongs to
 * a tenant or to the system (tenant_id null); in tenant scope everything else is 404.
 */

export const DEFAULT_TIMEOUT_MS = 5_000;
const MAX_SECRETS = 50;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export interface ActionInput {
  name: string;
  trigger: Trigger;
  runtime: ActionRuntime;
  code?: string | undefined;
  url?: string | undefined;
  timeout_ms?: number | undefined;
  secrets?: Record<string, string> | undefined;
  /** System scope: the tenant it belongs to (default: a system action, run for every tenant). */
  tenant?: string | undefined;
}

export interface ActionPatch {
  name?: string | undefined;
  code?: string | undefined;
  url?: string | undefined;
  timeout_ms?: number | undefined;
  /** Named values set; a null value removes the secret. */
  secrets?: Record<string, string | null> | undefined;
}

/** What is sealed per action: its secrets, and an HTTP action's signing secret. */
export interface SealedSecrets {
  secrets: Record<string, string>;
  signing?: string;
}

const sealContext = (id: string) => `action-secrets:${id}`;
export const sealSecrets = (ctx: Pick<AppContext, 'masterKey'>, id: string, value: SealedSecrets) =>
  seal(ctx.masterKey, JSON.stringify(value), sealContext(id));
export function unsealSecrets(ctx: Pick<AppContext, 'masterKey'>, id: string, sealed: string | null): SealedSecrets {
  if (!sealed) return { secrets: {} };
  return JSON.parse(unseal(ctx.masterKey, sealed, sealContext(id))) as SealedSecrets;
}

function checkSecrets(secrets: Record<string, unknown>): void {
  const names = Object.keys(secrets);
  if (names.length > MAX_SECRETS) throw new AppError('invalid_field', `At most ${MAX_SECRETS} secrets`, { field: 'secrets' });
  for (const name of names) {
    if (!SECRET_NAME.test(name)) {
      throw new AppError('invalid_field', 'A secret’s name is letters, digits and _ (not first a digit), at most 64', {
        field: 'secrets',
        name,
      });
    }
  }
}

async function checkSource(ctx: AppContext, runtime: ActionRuntime, code: string | undefined, url: string | undefined) {
  if (runtime === 'js') {
    if (code === undefined) throw new AppError('missing_field', 'A js action needs "code"', { field: 'code' });
    if (url !== undefined) throw new AppError('invalid_field', 'A js action has code, not a url', { field: 'url' });
    return { code, url: null };
  }
  if (url === undefined) throw new AppError('missing_field', 'An http action needs "url"', { field: 'url' });
  if (code !== undefined) throw new AppError('invalid_field', 'An http action has a url, not code', { field: 'code' });
  return { code: null, url: await checkWebhookUrl(destinationPolicy(ctx.config.webhookAllowedNetworks), url) };
}

const nameTaken = (error: unknown) =>
  error instanceof Error && /actions_tenant_name_key/.test(`${error.message} ${(error as { constraint?: string }).constraint ?? ''}`);
function rethrowName(error: unknown): never {
  if (nameTaken(error)) throw new AppError('name_taken', 'An action of this tenant has this name');
  throw error;
}

export async function listActions(
  ctx: AppContext,
  scope: Scope,
  filter: { tenant?: string | undefined; trigger?: string | undefined },
  page: PageRequest,
): Promise<Page<Action>> {
  const tenantId = listedTenant(scope, filter.tenant);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (a) => a.id,
    (fetch, after) =>
      ctx.db
        .selectFrom('actions')
        .selectAll()
        .$if(tenantId !== undefined, (q) => q.where('tenant_id', '=', tenantId as string))
        .$if(filter.trigger !== undefined, (q) => q.where('trigger', '=', filter.trigger as string))
        .$if(after !== undefined, (q) => q.where('id', '>', after as string))
        .orderBy('id')
        .limit(fetch)
        .execute(),
  );
}

/** The action, if the scope reaches it: another tenant's, or a system action for a tenant administrator, is 404. */
export async function getAction(db: Db, scope: Scope, id: string): Promise<Action> {
  const action = await db.selectFrom('actions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!action || !inScope(scope, action.tenant_id)) throw notFound('Action');
  return action;
}

export async function createAction(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  input: ActionInput,
): Promise<{ action: Action; signingSecret?: string }> {
  const tenantId = owningTenant(scope, input.tenant);
  if (!TRIGGERS.includes(input.trigger)) throw new AppError('invalid_field', 'No such trigger', { field: 'trigger' });
  const source = await checkSource(ctx, input.runtime, input.code, input.url);
  checkSecrets(input.secrets ?? {});
  const id = ctx.ids.next();
  const signing = input.runtime === 'http' ? randomToken('ghac') : undefined;
  const sealed: SealedSecrets = { secrets: input.secrets ?? {}, ...(signing && { signing }) };
  const now = ctx.clock.now();
  const action = await ctx.db.transaction().execute(async (trx) => {
    if (tenantId && !(await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
    const row = await trx
      .insertInto('actions')
      .values({
        id,
        tenant_id: tenantId,
        name: input.name,
        trigger: input.trigger,
        runtime: input.runtime,
        ...source,
        timeout_ms: input.timeout_ms ?? DEFAULT_TIMEOUT_MS,
        secrets_sealed: sealSecrets(ctx, id, sealed),
        secret_names: JSON.stringify(Object.keys(sealed.secrets)),
        deployed_version: null,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(rethrowName);
    await recordAudit(trx, ctx, {
      action: 'iam.action.created',
      actor,
      tenantId,
      target: { type: 'action', id },
      details: { name: input.name, trigger: input.trigger, runtime: input.runtime, secrets: Object.keys(sealed.secrets) },
    });
    return row;
  });
  return { action, ...(signing && { signingSecret: signing }) };
}

export async function updateAction(ctx: AppContext, scope: Scope, actor: Actor, id: string, patch: ActionPatch): Promise<Action> {
  const current = await getAction(ctx.db, scope, id);
  const source =
    patch.code !== undefined || patch.url !== undefined
      ? await checkSource(
          ctx,
          current.runtime,
          patch.code ?? (current.runtime === 'js' ? (current.code ?? undefined) : undefined),
          patch.url ?? (current.runtime === 'http' ? (current.url ?? undefined) : undefined),
        )
      : undefined;
  let sealedColumns = {};
  if (patch.secrets !== undefined) {
    checkSecrets(patch.secrets);
    const sealed = unsealSecrets(ctx, id, current.secrets_sealed);
    for (const [name, value] of Object.entries(patch.secrets)) {
      if (value === null) delete sealed.secrets[name];
      else sealed.secrets[name] = value;
    }
    checkSecrets(sealed.secrets);
    sealedColumns = { secrets_sealed: sealSecrets(ctx, id, sealed), secret_names: JSON.stringify(Object.keys(sealed.secrets)) };
  }
  return ctx.db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('actions')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...source,
        ...(patch.timeout_ms !== undefined && { timeout_ms: patch.timeout_ms }),
        ...sealedColumns,
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(rethrowName);
    await recordAudit(trx, ctx, {
      action: 'iam.action.modified',
      actor,
      tenantId: updated.tenant_id,
      target: { type: 'action', id },
      // Names only: a secret's value never reaches the trail.
      details: { fields: Object.keys(patch), ...(patch.secrets && { secrets: Object.keys(patch.secrets) }) },
    });
    return updated;
  });
}

export async function deleteAction(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  const action = await getAction(ctx.db, scope, id);
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('actions').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.action.deleted',
      actor,
      tenantId: action.tenant_id,
      target: { type: 'action', id },
      details: { name: action.name, trigger: action.trigger },
    });
  });
}

/** Deploys the draft as a new version, or (`version`) rolls back to an earlier one. */
export async function deployAction(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  id: string,
  rollBackTo?: number,
): Promise<{ action: Action; version: ActionVersion }> {
  await getAction(ctx.db, scope, id);
  return ctx.db.transaction().execute(async (trx) => {
    const action = await trx.selectFrom('actions').selectAll().where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
    let version: ActionVersion;
    if (rollBackTo !== undefined) {
      const found = await trx
        .selectFrom('action_versions')
        .selectAll()
        .where('action_id', '=', id)
        .where('version', '=', rollBackTo)
        .executeTakeFirst();
      if (!found) throw notFound('Version');
      version = found;
    } else {
      const last = await trx
        .selectFrom('action_versions')
        .select((eb) => eb.fn.max('version').as('v'))
        .where('action_id', '=', id)
        .executeTakeFirst();
      version = await trx
        .insertInto('action_versions')
        .values({
          action_id: id,
          version: Number(last?.v ?? 0) + 1,
          code: action.code,
          url: action.url,
          timeout_ms: action.timeout_ms,
          created_by: actor.type === 'user' ? actor.id : null,
          created_at: ctx.clock.now(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    const updated = await trx
      .updateTable('actions')
      .set({ deployed_version: version.version, updated_at: ctx.clock.now() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.action.deployed',
      actor,
      tenantId: action.tenant_id,
      target: { type: 'action', id },
      details: { version: version.version, ...(rollBackTo !== undefined && { rolled_back: true }) },
    });
    return { action: updated, version };
  });
}

export async function listVersions(ctx: AppContext, scope: Scope, id: string): Promise<ActionVersion[]> {
  await getAction(ctx.db, scope, id);
  return ctx.db.selectFrom('action_versions').selectAll().where('action_id', '=', id).orderBy('version', 'desc').limit(100).execute();
}

export interface BindingInput {
  action_id: string;
  on_error?: OnError | undefined;
}

/** `?tenant=` in system scope names a tenant's list; without it, the system list. Tenant scope: the own. */
function bindingTenant(scope: Scope, requested: string | undefined): string | null {
  if (scope.kind === 'system') return requested ?? null;
  if (requested !== undefined && requested !== scope.tenantId) throw notFound('Tenant');
  return scope.tenantId;
}

export async function getBindings(ctx: AppContext, scope: Scope, trigger: Trigger, tenant: string | undefined) {
  const tenantId = bindingTenant(scope, tenant);
  return ctx.db
    .selectFrom('trigger_bindings as b')
    .innerJoin('actions as a', 'a.id', 'b.action_id')
    .select(['b.action_id', 'b.on_error', 'a.name', 'a.deployed_version'])
    .where('b.trigger', '=', trigger)
    .where((eb) => (tenantId === null ? eb('b.tenant_id', 'is', null) : eb('b.tenant_id', '=', tenantId)))
    .orderBy('b.position')
    .execute();
}

/** Replaces the ordered list; each action must be of that list's owner, of this trigger, and deployed. */
export async function putBindings(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  trigger: Trigger,
  tenant: string | undefined,
  bindings: BindingInput[],
) {
  const tenantId = bindingTenant(scope, tenant);
  const ids = bindings.map((b) => b.action_id);
  if (new Set(ids).size !== ids.length) throw new AppError('invalid_field', 'An action is bound once per trigger', { field: 'bindings' });
  await ctx.db.transaction().execute(async (trx) => {
    if (tenantId && !(await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
    const actions = ids.length === 0 ? [] : await trx.selectFrom('actions').selectAll().where('id', 'in', ids).execute();
    for (const id of ids) {
      const action = actions.find((a) => a.id === id);
      // Another tenant's action, or a system one in a tenant's list (and the reverse), does not exist here.
      if (!action || action.tenant_id !== tenantId) throw notFound('Action');
      if (action.trigger !== trigger) {
        throw new AppError('invalid_field', `The action is written for ${action.trigger}`, { field: 'bindings', action_id: id });
      }
      if (action.deployed_version === null)
        throw new AppError('action_not_deployed', 'Deploy the action before binding it', { action_id: id });
    }
    await trx
      .deleteFrom('trigger_bindings')
      .where('trigger', '=', trigger)
      .where((eb) => (tenantId === null ? eb('tenant_id', 'is', null) : eb('tenant_id', '=', tenantId)))
      .execute();
    if (bindings.length > 0) {
      await trx
        .insertInto('trigger_bindings')
        .values(
          bindings.map((b, position) => ({
            id: ctx.ids.next(),
            tenant_id: tenantId,
            trigger,
            position,
            action_id: b.action_id,
            on_error: b.on_error ?? 'deny',
          })),
        )
        .execute();
    }
    await recordAudit(trx, ctx, {
      action: 'iam.action.bindingsChanged',
      actor,
      tenantId,
      target: { type: 'trigger', id: trigger },
      details: { bindings: bindings.map((b) => ({ action_id: b.action_id, on_error: b.on_error ?? 'deny' })) },
    });
  });
  return getBindings(ctx, scope, trigger, tenant);
}

export async function listExecutions(ctx: AppContext, scope: Scope, id: string, limit: number) {
  await getAction(ctx.db, scope, id);
  return ctx.db
    .selectFrom('action_executions')
    .selectAll()
    .where('action_id', '=', id)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
