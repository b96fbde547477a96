import { sql } from 'kysely';
import { connectionOf, secretsContext } from '../../authn/federation/connections.js';
import type { Strategy } from '../../authn/federation/strategy.js';
import { inScope, listedTenant, owningTenant, type Scope } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { seal } from '../../platform/crypto/secrets.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { ConnectionRow, SyncMode } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { checkClients, checkMapping, type MappingInput } from './references.js';
import {
  checkAttributes,
  checkDestinations,
  checkDomains,
  checkName,
  checkRequired,
  checkStrategy,
  checkUrlShapes,
  mergeOptions,
  splitOptions,
} from './rules.js';

/**
 * The connections admin API (docs/federation.md#connections): Auth0's model. A system
 * connection (`tenant_id` null) is a system administrator's alone; a tenant's connection
 * its administrators' (and a system administrator's). Another tenant's connection, or a
 * system one, does not exist for a tenant administrator (404, decision 236). Secrets are
 * sealed at rest and never answered, logged or audited. Nothing is cached: the sign-in
 * reads the row on every request (src/authn/federation/connections.ts).
 */

export interface ConnectionInput {
  name: string;
  strategy: string;
  display_name?: string;
  /** A tenant id, or null for a system connection (system administrators); absent: the caller's tenant, or system-wide for a system administrator. */
  tenant?: string | null;
  options?: Record<string, unknown>;
  enabled_clients?: string[];
  domains?: string[];
  mapping?: MappingInput[];
  attributes?: Record<string, string>;
  sync_mode?: SyncMode;
  trusted_email?: boolean;
  upstream_mfa?: boolean;
}

/** Name, strategy and tenant are fixed at creation. `options` merges: a key set to null is removed, a secret omitted is kept. */
export type ConnectionPatch = Partial<Omit<ConnectionInput, 'name' | 'strategy' | 'tenant'>>;

export interface ConnectionFilter {
  tenant?: string | undefined;
  strategy?: string | undefined;
  name?: string | undefined;
}

/** `con_` and 32 hex digits, time-ordered (a uuidv7), so a list is in creation order. */
const newConnectionId = (ctx: AppContext) => `con_${ctx.ids.next().replaceAll('-', '')}`;
/** The uuid inside a connection id, for the repository's cursors (which carry uuids), and back. */
const uuidOf = (id: string) => id.slice(4).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
const connectionIdOf = (uuid: string) => `con_${uuid.replaceAll('-', '')}`;

const sealSecrets = (ctx: AppContext, id: string, secrets: Record<string, string>) =>
  Object.keys(secrets).length === 0 ? null : seal(ctx.masterKey, JSON.stringify(secrets), secretsContext(id));

const rethrowExists = (error: unknown, name: string): never => {
  if (isUniqueViolation(error, 'connections_name_key')) {
    throw new AppError('connection_exists', `A connection named "${name}" exists`, { field: 'name' });
  }
  throw error;
};

/** Whether the scope reaches the connection: a tenant administrator only the own tenant's (never a system one). */
const reaches = (scope: Scope, row: Pick<ConnectionRow, 'tenant_id'>) =>
  row.tenant_id !== null ? inScope(scope, row.tenant_id) : scope.kind === 'system';

/**
 * A `trusted_email` connection links by email every account it may speak for (an account
 * of its tenant alone; for a system connection, of any tenant): making one, or changing one
 * that stays trusted, is taking over those accounts. Only a caller who outranks all of them
 * may: `tenant.all` or `all` for a tenant's connection, `all` for a system one (decision 279).
 */
function assertMayTrustEmail(scope: Scope, tenantId: string | null): void {
  const top = scope.held.has('all') || (tenantId !== null && scope.kind === 'tenant' && scope.held.has('tenant.all'));
  if (!top) {
    throw new AppError(
      'forbidden',
      'A connection with trusted_email links accounts by email: it is made or changed only by an administrator of the whole tenant (tenant.all) or a system administrator (all)',
      { field: 'trusted_email' },
    );
  }
}

/** In creation order; a tenant administrator sees the own tenant's, a system administrator every one (or `?tenant=`). */
export async function listConnections(
  ctx: AppContext,
  scope: Scope,
  filter: ConnectionFilter,
  page: PageRequest,
): Promise<Page<ConnectionRow>> {
  const tenantId = listedTenant(scope, filter.tenant);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (c) => uuidOf(c.id),
    async (fetch, after) =>
      ctx.db
        .selectFrom('connections')
        .selectAll()
        .$if(tenantId !== undefined, (q) => q.where('tenant_id', '=', tenantId as string))
        .$if(filter.strategy !== undefined, (q) => q.where('strategy', '=', filter.strategy as string))
        .$if(filter.name !== undefined, (q) => q.where(sql<string>`lower(name)`, '=', (filter.name as string).toLowerCase()))
        .$if(after !== undefined, (q) => q.where('id', '>', connectionIdOf(after as string)))
        .orderBy('id')
        .limit(fetch)
        .execute(),
  );
}

export async function getConnection(ctx: AppContext, scope: Scope, id: string): Promise<ConnectionRow> {
  const row = await ctx.db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || !reaches(scope, row)) throw notFound('Connection');
  return row;
}

/** Reads the connection for a change, locked until the transaction ends. */
async function lockConnection(trx: Db, scope: Scope, id: string): Promise<ConnectionRow> {
  const row = await trx.selectFrom('connections').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!row || !reaches(scope, row)) throw notFound('Connection');
  return row;
}

/** The option names a change touches (never their values: a secret's value is never audited). */
const optionNames = (options: Record<string, unknown> | undefined) => (options ? Object.keys(options).sort() : []);

export async function createConnection(ctx: AppContext, scope: Scope, actor: Actor, input: ConnectionInput): Promise<ConnectionRow> {
  const name = checkName(input.name);
  const strategy = checkStrategy(input.strategy);
  if (input.tenant === null && scope.kind !== 'system') {
    throw new AppError('forbidden', 'A system connection is created by a system administrator');
  }
  const tenantId = owningTenant(scope, input.tenant ?? undefined);
  if (input.trusted_email === true) assertMayTrustEmail(scope, tenantId);
  const split = splitOptions(input.options ?? {});
  const options = mergeOptions({}, split.options);
  const secrets = mergeOptions<string>({}, split.secrets);
  checkRequired(strategy, { options, secrets });
  await checkDestinations(ctx, checkUrlShapes(strategy, options, ctx.config.production));
  const domains = checkDomains(input.domains ?? []);
  const attributes = checkAttributes(input.attributes ?? {});
  const id = newConnectionId(ctx);
  const now = ctx.clock.now();
  return ctx.db
    .transaction()
    .execute(async (trx) => {
      if (tenantId && !(await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst()))
        throw notFound('Tenant');
      const enabledClients = await checkClients(trx, tenantId, input.enabled_clients ?? []);
      const mapping = await checkMapping(trx, scope, tenantId, input.mapping ?? []);
      const row = await trx
        .insertInto('connections')
        .values({
          id,
          tenant_id: tenantId,
          name,
          strategy,
          display_name: input.display_name ?? name,
          options: JSON.stringify(options),
          secrets_sealed: sealSecrets(ctx, id, secrets),
          enabled_clients: JSON.stringify(enabledClients),
          domains: JSON.stringify(domains),
          mapping: JSON.stringify(mapping),
          attributes: JSON.stringify(attributes),
          sync_mode: input.sync_mode ?? 'on_each_login',
          trusted_email: input.trusted_email ?? false,
          upstream_mfa: input.upstream_mfa ?? false,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordAudit(trx, ctx, {
        action: 'iam.connection.created',
        actor,
        tenantId,
        target: { type: 'connection', id },
        details: { name, strategy, fields: Object.keys(input).sort(), options: optionNames(input.options) },
      });
      return row;
    })
    .catch((error) => rethrowExists(error, name));
}

export async function updateConnection(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  id: string,
  patch: ConnectionPatch,
): Promise<ConnectionRow> {
  // Checked before the row is locked (a slow name server must not hold the lock); the
  // strategy never changes, so the locked row's is this one's.
  const before = await getConnection(ctx, scope, id);
  if ((patch.trusted_email ?? before.trusted_email) === true) assertMayTrustEmail(scope, before.tenant_id);
  const strategy = checkStrategy(before.strategy);
  const split = patch.options && splitOptions(patch.options);
  if (split) await checkDestinations(ctx, checkUrlShapes(strategy, mergeOptions({}, split.options), ctx.config.production));
  const domains = patch.domains && checkDomains(patch.domains);
  const attributes = patch.attributes && checkAttributes(patch.attributes);
  return ctx.db.transaction().execute(async (trx) => {
    const current = await lockConnection(trx, scope, id);
    let options: Record<string, unknown> | undefined;
    let secretsSealed: string | null | undefined;
    if (split) {
      const old = connectionOf(ctx, current);
      options = mergeOptions(current.options as Record<string, unknown>, split.options);
      const secrets = mergeOptions<string>(old.secrets, split.secrets);
      checkRequired(strategy, { options, secrets });
      checkUrlShapes(strategy, options, ctx.config.production);
      secretsSealed = sealSecrets(ctx, id, secrets);
    }
    // Another provider behind the same connection (a new issuer, metadata or directory) could
    // answer with the subject of any linked identity: what owners proved for the old one no
    // longer holds, so identities the connection does not speak for ask for that proof again
    // (decision 289). A new secret alone points nowhere else.
    if (options && JSON.stringify(options) !== JSON.stringify(current.options)) {
      await trx.updateTable('user_identities').set({ proved: false }).where('connection_id', '=', id).where('proved', '=', true).execute();
    }
    const enabledClients = patch.enabled_clients && (await checkClients(trx, current.tenant_id, patch.enabled_clients));
    const mapping = patch.mapping && (await checkMapping(trx, scope, current.tenant_id, patch.mapping));
    const updated = await trx
      .updateTable('connections')
      .set({
        ...(patch.display_name !== undefined && { display_name: patch.display_name }),
        ...(options && { options: JSON.stringify(options) }),
        ...(secretsSealed !== undefined && { secrets_sealed: secretsSealed }),
        ...(enabledClients && { enabled_clients: JSON.stringify(enabledClients) }),
        ...(domains && { domains: JSON.stringify(domains) }),
        ...(mapping && { mapping: JSON.stringify(mapping) }),
        ...(attributes && { attributes: JSON.stringify(attributes) }),
        ...(patch.sync_mode !== undefined && { sync_mode: patch.sync_mode }),
        ...(patch.trusted_email !== undefined && { trusted_email: patch.trusted_email }),
        ...(patch.upstream_mfa !== undefined && { upstream_mfa: patch.upstream_mfa }),
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.connection.modified',
      actor,
      tenantId: current.tenant_id,
      target: { type: 'connection', id },
      details: { name: current.name, fields: Object.keys(patch).sort(), options: optionNames(patch.options) },
    });
    return updated;
  });
}

/** Deletes the connection and, with it, every identity at it (a person linked only through it can no longer sign in that way). */
export async function deleteConnection(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const row = await lockConnection(trx, scope, id);
    await trx.deleteFrom('connections').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.connection.deleted',
      actor,
      tenantId: row.tenant_id,
      target: { type: 'connection', id },
      details: { name: row.name, strategy: row.strategy as Strategy },
    });
  });
}
