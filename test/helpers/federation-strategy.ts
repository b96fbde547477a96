import type { Connection, Strategy } from '../../src/authn/federation/strategy.js';
import { parseConfig } from '../../src/platform/config.js';
import type { AppContext } from '../../src/platform/context.js';
import { systemClock } from '../../src/platform/ids.js';

/**
 * What a strategy reads of the context (the configuration, the clock) for tests that call a
 * strategy directly, without a whole Gatehouse.
 */
export function strategyContext(overrides: { production?: boolean } = {}): AppContext {
  const config = { ...parseConfig({}, false), production: overrides.production ?? false };
  return { config, clock: systemClock } as unknown as AppContext;
}

let count = 0;

/** A connection as a strategy receives it (options and unsealed secrets). */
export function testConnection(
  strategy: Strategy,
  options: Record<string, unknown>,
  secrets: Record<string, string> = {},
  fields: Partial<Pick<Connection, 'name' | 'displayName'>> = {},
): Connection {
  count++;
  return {
    id: `00000000-0000-4000-8000-${String(count).padStart(12, '0')}`,
    tenantId: null,
    name: `${strategy}-${count}`,
    strategy,
    displayName: strategy,
    options,
    secrets,
    enabledClients: [],
    domains: [],
    mapping: [],
    attributes: {},
    syncMode: 'on_each_login',
    trustedEmail: false,
    upstreamMfa: false,
    ...fields,
  } as Connection;
}
