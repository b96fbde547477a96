import type { Logger } from 'pino';
import type { Config } from '../../platform/config.js';
import { serviceUnavailable } from '../../platform/errors.js';
import type { ProtectionStore } from '../../platform/ports/protection.js';

/** After a failure, Redis is tried again this long later (meanwhile: the fallback, or 503), so an outage costs no timeouts per request. */
const RETRY_AFTER_FAILURE_MS = 1000;

/**
 * Brute-force protection while Redis is down (decision 313): never a 500 and never
 * unprotected. In `fallback` mode the attempt is counted in PostgreSQL, which every node
 * shares too, with one warning per outage; in `closed` mode it is refused with 503
 * service_unavailable and Retry-After. After a failure Redis is left alone for a second,
 * then tried again; the first command that succeeds ends the outage.
 *
 * The two stores do not share counts: an outage starts the database's counts from what
 * they held (an earlier outage's, or none), and Redis's resume where they were when it
 * returns. Unlocks and prunes act on both, so an unlock is not undone by the other store.
 */
export function createFailoverStore(
  redis: ProtectionStore,
  postgres: ProtectionStore,
  mode: Config['redisFailure'],
  log: Logger,
): ProtectionStore {
  let down = false;
  let retryAt = 0;

  function failed(error: unknown): void {
    retryAt = Date.now() + RETRY_AFTER_FAILURE_MS;
    if (down) return;
    down = true;
    const consequence =
      mode === 'fallback' ? 'counting sign-in attempts in PostgreSQL until it returns' : 'refusing sign-in attempts (503) until it returns';
    log.warn({ err: error instanceof Error ? error.message : String(error) }, `Redis (brute-force counters) failed: ${consequence}`);
  }

  /** Runs `op` on Redis; while Redis fails, `fallback` on PostgreSQL (or 503, fail-closed). */
  async function run<T>(op: (store: ProtectionStore) => Promise<T>): Promise<T> {
    if (!down || Date.now() >= retryAt) {
      try {
        const result = await op(redis);
        if (down) log.info('Redis (brute-force counters) answers again: counting there');
        down = false;
        return result;
      } catch (error) {
        failed(error);
      }
    }
    if (mode === 'closed') throw serviceUnavailable('Brute-force protection (Redis)', Math.ceil(RETRY_AFTER_FAILURE_MS / 1000));
    return op(postgres);
  }

  return {
    admit: (key, rules, now) => run((store) => store.admit(key, rules, now)),
    succeeded: (key, now) => run((store) => store.succeeded(key, now)),
    failed: (key, rules, now) => run((store) => store.failed(key, rules, now)),
    state: (userId, now) => run((store) => store.state(userId, now)),
    addressFailures: (ip, windowSeconds, now) => run((store) => store.addressFailures(ip, windowSeconds, now)),
    async clearUser(userId, kinds) {
      const fromDatabase = await postgres.clearUser(userId, kinds);
      const fromRedis = await run((store) => (store === postgres ? Promise.resolve(0) : store.clearUser(userId, kinds)));
      return fromDatabase + fromRedis;
    },
    async clearPair(userId, kind, ip) {
      const fromDatabase = await postgres.clearPair(userId, kind, ip);
      const fromRedis = await run((store) => (store === postgres ? Promise.resolve(false) : store.clearPair(userId, kind, ip)));
      return fromDatabase || fromRedis;
    },
    // The database's counters of an outage expire like any others; Redis expires its own.
    prune: (rules, now) => postgres.prune(rules, now),
    async close() {
      await redis.close();
      await postgres.close();
    },
  };
}
