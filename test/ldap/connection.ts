import assert from 'node:assert/strict';
import type { Connection } from '../../src/authn/federation/strategy.js';
import { FederationError } from '../../src/authn/federation/strategy.js';
import { testConnection } from '../helpers/federation-strategy.js';
import { SERVICE_DN, SERVICE_PASSWORD, SUFFIX } from '../helpers/slapd.js';

/** An `ad` connection as the strategy receives it (options and unsealed secrets), each with its own id (its own lockout counters). */
export const adConnection = (options: Record<string, unknown>, secrets: Record<string, string> = {}): Connection =>
  testConnection('ad', { base_dn: SUFFIX, ...options }, secrets, { name: 'corp-ldap', displayName: 'Corporate directory' });

/** A connection that finds people by a search as the service account. */
export const searchConnection = (url: string, options: Record<string, unknown> = {}) =>
  adConnection({ url, bind_dn: SERVICE_DN, ...options }, { bind_password: SERVICE_PASSWORD });

/** A connection that binds at `uid={username},ou=people,…`. */
export const templateConnection = (url: string, options: Record<string, unknown> = {}) =>
  adConnection({ url, user_dn_template: `uid={username},ou=people,${SUFFIX}`, ...options });

/** Asserts that `promise` rejects with a FederationError of `code`; returns it. */
export async function rejectsWith(promise: Promise<unknown>, code: FederationError['code']): Promise<FederationError> {
  const error = await promise.then(
    (value) => assert.fail(`expected FederationError(${code}), got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof FederationError, `expected a FederationError, got ${String(error)}`);
  assert.equal(error.code, code, error.reason);
  return error;
}
