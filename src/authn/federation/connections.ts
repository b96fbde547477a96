import { sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import { unseal } from '../../platform/crypto/secrets.js';
import type { ConnectionRow } from '../../platform/db/schema.js';
import { type Connection, STRATEGIES, type Strategy } from './strategy.js';

/**
 * Reading connections (the writes are the admin API's, src/ops/connections/). Nothing is
 * cached: a change made on any node is in force on every node at the next request.
 */

/** The sealing context of a connection's secrets: a sealed value cannot be moved to another connection. */
export const secretsContext = (connectionId: string) => `connection-secrets\0${connectionId}`;

const isStrategy = (value: string): value is Strategy => (STRATEGIES as readonly string[]).includes(value);

/** A stored connection with its secrets unsealed, for a strategy (never for an answer). */
export function connectionOf(ctx: Pick<AppContext, 'masterKey'>, row: ConnectionRow): Connection {
  if (!isStrategy(row.strategy)) throw new Error(`Connection ${row.id} has an unknown strategy ${row.strategy}`);
  const secrets: Record<string, string> = row.secrets_sealed
    ? JSON.parse(unseal(ctx.masterKey, row.secrets_sealed, secretsContext(row.id)))
    : {};
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    strategy: row.strategy,
    displayName: row.display_name,
    options: row.options,
    secrets,
    enabledClients: row.enabled_clients,
    domains: row.domains,
    mapping: row.mapping,
    attributes: row.attributes,
    syncMode: row.sync_mode,
    trustedEmail: row.trusted_email,
    upstreamMfa: row.upstream_mfa,
  };
}

export async function connectionById(ctx: AppContext, id: string): Promise<Connection | undefined> {
  const row = await ctx.db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
  return row && connectionOf(ctx, row);
}

/** By name, case-insensitive (names are unique across the deployment). */
export async function connectionByName(ctx: AppContext, name: string): Promise<Connection | undefined> {
  const row = await ctx.db
    .selectFrom('connections')
    .selectAll()
    .where(sql<string>`lower(name)`, '=', name.toLowerCase())
    .executeTakeFirst();
  return row && connectionOf(ctx, row);
}

/**
 * The connections an application may use: enabled for its client id, and either its own
 * tenant's or a system connection. A connection of another tenant never serves it, even if
 * that tenant's administrator listed the client id (the API refuses that too).
 */
export async function connectionsForClient(ctx: AppContext, client: { clientId: string; tenantId: string }): Promise<Connection[]> {
  const rows = await servingClient(ctx, client).orderBy('name').execute();
  return rows.map((row) => connectionOf(ctx, row));
}

/** The names of the connections an application may use, for its sign-in page's buttons (no secret is unsealed). */
export async function connectionLabelsForClient(ctx: AppContext, client: { clientId: string; tenantId: string }) {
  return servingClient(ctx, client).clearSelect().select(['name', 'display_name']).orderBy('name').execute();
}

/** The stored connections that serve an application (the rule above), as a query to narrow further. */
const servingClient = (ctx: AppContext, client: { clientId: string; tenantId: string }) =>
  ctx.db
    .selectFrom('connections')
    .selectAll()
    .where((eb) => eb.or([eb('tenant_id', '=', client.tenantId), eb('tenant_id', 'is', null)]))
    .where(sql<boolean>`enabled_clients @> ${JSON.stringify([client.clientId])}::jsonb`);

/** Whether a connection serves an application (the rule of connectionsForClient, for one connection already read). */
export const servesClient = (connection: Connection, client: { clientId: string; tenantId: string }): boolean =>
  connection.enabledClients.includes(client.clientId) && (connection.tenantId === null || connection.tenantId === client.tenantId);

/** The connection of an application whose `domains` hold the email's domain (home-realm discovery), if any. */
export async function connectionForEmail(
  ctx: AppContext,
  client: { clientId: string; tenantId: string },
  email: string,
): Promise<Connection | undefined> {
  const at = email.lastIndexOf('@');
  if (at < 0) return undefined;
  const domain = email
    .slice(at + 1)
    .trim()
    .toLowerCase();
  if (!domain) return undefined;
  // Domains are stored lower-case (the admin API's check): the database picks the one row, whose secrets alone are unsealed.
  const row = await servingClient(ctx, client)
    .where(sql<boolean>`domains @> ${JSON.stringify([domain])}::jsonb`)
    .orderBy('name')
    .executeTakeFirst();
  return row && connectionOf(ctx, row);
}
