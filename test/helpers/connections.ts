import { randomBytes } from 'node:crypto';
import { secretsContext } from '../../src/authn/federation/connections.js';
import type { Strategy } from '../../src/authn/federation/strategy.js';
import { seal } from '../../src/platform/crypto/secrets.js';
import type { RoleMapping, SyncMode } from '../../src/platform/db/schema.js';
import type { TestGatehouse } from './gatehouse.js';

/**
 * A connection written straight into `connections`, its secrets sealed as the admin API
 * seals them (src/ops/connections/): for the sign-in tests, until they create connections
 * through that API.
 */
export interface NewConnection {
  name: string;
  strategy: Strategy;
  tenantId?: string | null;
  displayName?: string;
  options?: Record<string, unknown>;
  secrets?: Record<string, string>;
  enabledClients?: string[];
  domains?: string[];
  mapping?: RoleMapping[];
  attributes?: Record<string, string>;
  syncMode?: SyncMode;
  trustedEmail?: boolean;
  upstreamMfa?: boolean;
}

export async function insertConnection(gh: Pick<TestGatehouse, 'ctx'>, c: NewConnection): Promise<string> {
  const id = `con_${randomBytes(16).toString('hex')}`;
  await gh.ctx.db
    .insertInto('connections')
    .values({
      id,
      tenant_id: c.tenantId ?? null,
      name: c.name,
      strategy: c.strategy,
      display_name: c.displayName ?? c.name,
      options: JSON.stringify(c.options ?? {}),
      secrets_sealed: c.secrets ? seal(gh.ctx.masterKey, JSON.stringify(c.secrets), secretsContext(id)) : null,
      enabled_clients: JSON.stringify(c.enabledClients ?? []),
      domains: JSON.stringify(c.domains ?? []),
      mapping: JSON.stringify(c.mapping ?? []),
      attributes: JSON.stringify(c.attributes ?? {}),
      sync_mode: c.syncMode ?? 'on_each_login',
      trusted_email: c.trustedEmail ?? false,
      upstream_mfa: c.upstreamMfa ?? false,
    } as never)
    .execute();
  return id;
}

/** Changes stored fields of a connection (as the admin API's PATCH would). */
export async function updateConnection(gh: Pick<TestGatehouse, 'ctx'>, id: string, patch: Record<string, unknown>): Promise<void> {
  const values = Object.fromEntries(
    Object.entries(patch).map(([key, value]) => [key, typeof value === 'object' && value !== null ? JSON.stringify(value) : value]),
  );
  await gh.ctx.db.updateTable('connections').set(values).where('id', '=', id).execute();
}
