import type { Logger } from 'pino';
import type { Config } from '../../platform/config.js';
import type { Db } from '../../platform/db/database.js';
import type { AccountRules, ProtectionStore } from '../../platform/ports/protection.js';
import { createFailoverStore } from './failover-store.js';
import { createPostgresStore } from './postgres-store.js';
import { createRedisStore } from './redis-store.js';

/** The account's lockout after its n-th consecutive failure: doubling from the initial delay, capped. */
export function lockSeconds(rules: AccountRules, failures: number): number | null {
  if (failures < rules.accountThreshold) return null;
  return Math.min(rules.maxDelaySeconds, rules.initialDelaySeconds * 2 ** Math.min(failures - rules.accountThreshold, 30));
}

/**
 * Where this node keeps the counters: Redis when GATEHOUSE_REDIS_URL is set (with the
 * database's counters, or a 503, while Redis is down: GATEHOUSE_REDIS_FAILURE), else the
 * database. Built once per node by src/main/gatehouse.ts; the server's shutdown closes it.
 */
export function createProtectionStore(config: Pick<Config, 'redisUrl' | 'redisFailure'>, db: Db, log: Logger): ProtectionStore {
  if (!config.redisUrl) return createPostgresStore(db);
  return createFailoverStore(createRedisStore(config.redisUrl, log), createPostgresStore(db), config.redisFailure, log);
}
