import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type {
  Admission,
  AttemptKey,
  AttemptKind,
  AttemptState,
  FailureOutcome,
  ProtectionStore,
  RefusalReason,
} from '../../platform/ports/protection.js';

/**
 * The counters in Redis (GATEHOUSE_REDIS_URL): the same semantics as the PostgreSQL store,
 * each step one Lua script, so it is atomic across every node that shares the Redis.
 * Keys: `gh:a:<subject>:<kind>` (account), `gh:p:<subject>:<kind>:<ip>` (pair),
 * `gh:i:<ip>` (address), and `gh:u:<user id>` (the account and pair keys of a user).
 * Times are epoch milliseconds. Every counter expires by itself (decision 215): an
 * account's the retention after its last failure (never while hard-locked), a pair's the
 * same, an address's with its window or block; a user's index forgets expired keys when read.
 */
const ADMIT = `
local now = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0')
  if b > now then return {'ip_throttled', b} end
end
local pb = tonumber(redis.call('HGET', KEYS[2], 'b') or '0')
if pb > now then return {'pair_blocked', pb} end
local a = redis.call('HMGET', KEYS[3], 'f', 'l', 'h', 't')
if a[3] == '1' then return {'hard_locked', 0} end
local l = tonumber(a[2] or '0')
if l > now then return {'locked', l} end
local before = tonumber(a[1] or '0')
local f = before + 1
local threshold = tonumber(ARGV[3])
local lock = 0
if f >= threshold then lock = now + math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ math.min(f - threshold, 30)) * 1000 end
local hard = 0
if f >= tonumber(ARGV[6]) then hard = 1 end
local quiet = 0
local qt = tonumber(ARGV[8])
if before >= qt then
  if before >= tonumber(ARGV[11]) then quiet = 1
  elseif now < tonumber(a[4] or '0') + math.min(tonumber(ARGV[10]), tonumber(ARGV[9]) * 2 ^ math.min(before - qt, 30)) * 1000 then quiet = 1 end
end
redis.call('HSET', KEYS[3], 'f', f, 'l', lock, 'h', hard, 't', now)
if hard == 1 then redis.call('PERSIST', KEYS[3]) else redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[12])) end
if ARGV[7] == '1' then redis.call('SADD', KEYS[4], KEYS[3]) end
return {'ok', f, quiet}`;

const SUCCEEDED = `
redis.call('DEL', KEYS[1])
local b = tonumber(redis.call('HGET', KEYS[2], 'b') or '0')
if b <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[2]) end
return 1`;

const FAILED = `
local now = tonumber(ARGV[1])
local pf = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
local pb = tonumber(redis.call('HGET', KEYS[1], 'b') or '0')
if pb > 0 and pb <= now then pf = 0; pb = 0 end
pf = pf + 1
local newPair = 0
if pb <= now then
  if pf >= tonumber(ARGV[2]) then pb = tonumber(ARGV[3]); newPair = pb else pb = 0 end
end
redis.call('HSET', KEYS[1], 'f', pf, 'b', pb)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
if ARGV[9] == '1' then redis.call('SADD', KEYS[3], KEYS[1]) end
local newIp = 0
if ARGV[5] == '1' then
  local i = redis.call('HMGET', KEYS[2], 'f', 'w', 'b')
  local f = tonumber(i[1] or '0')
  local w = tonumber(i[2] or '0')
  local b = tonumber(i[3] or '0')
  if w <= now - tonumber(ARGV[6]) or (b > 0 and b <= now) then f = 0; w = now; b = 0 end
  f = f + 1
  if b <= now then
    if f > tonumber(ARGV[7]) then b = tonumber(ARGV[8]); newIp = b else b = 0 end
  end
  redis.call('HSET', KEYS[2], 'f', f, 'w', w, 'b', b)
  redis.call('PEXPIRE', KEYS[2], math.max(w + tonumber(ARGV[6]) - now, b - now, 1000))
end
return {newPair, newIp}`;

type Scripted = Redis & {
  ghAdmit(...args: (string | number)[]): Promise<[RefusalReason | 'ok', number, number?]>;
  ghSucceeded(...args: (string | number)[]): Promise<number>;
  ghFailed(...args: (string | number)[]): Promise<[number, number]>;
};

const accountKey = (key: AttemptKey) => `gh:a:${key.subject}:${key.kind}`;
const pairKey = (key: AttemptKey) => `gh:p:${key.subject}:${key.kind}:${key.ip ?? '-'}`;
const ipKey = (ip: string | null) => `gh:i:${ip ?? '-'}`;
const userKey = (userId: string | null) => `gh:u:${userId ?? '-'}`;
const flag = (value: boolean) => (value ? '1' : '0');

/** A command Redis has not answered in this time has failed (the store falls back or refuses: failover-store.ts). */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
/** How long a connection attempt may take, and the longest pause between attempts while Redis is down. */
const CONNECT_TIMEOUT_MS = 1000;

/**
 * Fails fast (decision 313): no offline queue and no retries, so a command fails at once
 * while Redis is unreachable, and within REDIS_COMMAND_TIMEOUT_MS when it hangs; the
 * client reconnects in the background, at most a second apart. Only the first command
 * after the start waits for the first connection (up to a second).
 */
export function createRedisStore(url: string, log: Logger): ProtectionStore {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(times * 100, CONNECT_TIMEOUT_MS),
  }) as Scripted;
  let reachable = true;
  let everReady = false;
  const firstReady = once(redis, 'ready').then(
    () => undefined,
    () => undefined,
  );
  redis.on('ready', () => {
    everReady = true;
    if (!reachable) log.info('Redis (brute-force counters) is reachable again');
    reachable = true;
  });
  // Once per outage, not once per reconnection attempt.
  redis.on('error', (error) => {
    if (reachable) log.warn({ err: error.message }, 'Redis (brute-force counters) unavailable; reconnecting');
    reachable = false;
  });
  /** The first command waits for the first connection (a start does not fall back for nothing). */
  const started = async () => {
    if (!everReady) await Promise.race([firstReady, sleep(CONNECT_TIMEOUT_MS, undefined, { ref: false })]);
  };
  redis.defineCommand('ghAdmit', { numberOfKeys: 4, lua: ADMIT });
  redis.defineCommand('ghSucceeded', { numberOfKeys: 2, lua: SUCCEEDED });
  redis.defineCommand('ghFailed', { numberOfKeys: 3, lua: FAILED });

  return {
    async admit(key, rules, now): Promise<Admission> {
      await started();
      const [verdict, value, quiet] = await redis.ghAdmit(
        ipKey(key.ip),
        pairKey(key),
        accountKey(key),
        userKey(key.userId),
        now.getTime(),
        flag(key.ipCounted),
        rules.accountThreshold,
        rules.initialDelaySeconds,
        rules.maxDelaySeconds,
        rules.hardLimit,
        flag(key.userId !== null),
        rules.quiet.accountThreshold,
        rules.quiet.initialDelaySeconds,
        rules.quiet.maxDelaySeconds,
        rules.quiet.hardLimit,
        rules.pairBlockSeconds * 1000,
      );
      if (verdict === 'ok') return { admitted: true, failures: Number(value), quiet: Number(quiet) === 1 };
      return { admitted: false, reason: verdict, until: verdict === 'hard_locked' ? null : new Date(Number(value)) };
    },

    async succeeded(key, now) {
      await started();
      await redis.ghSucceeded(accountKey(key), pairKey(key), now.getTime());
    },

    async failed(key, rules, now): Promise<FailureOutcome> {
      if (key.ip === null) return {};
      await started();
      const [pairUntil, ipUntil] = await redis.ghFailed(
        pairKey(key),
        ipKey(key.ip),
        userKey(key.userId),
        now.getTime(),
        rules.pairThreshold,
        now.getTime() + rules.pairBlockSeconds * 1000,
        rules.pairBlockSeconds * 1000,
        flag(key.ipCounted),
        rules.ipWindowSeconds * 1000,
        rules.ipThreshold,
        now.getTime() + rules.ipBlockSeconds * 1000,
        flag(key.userId !== null),
      );
      return {
        ...(Number(pairUntil) > 0 && { pairBlockedUntil: new Date(Number(pairUntil)) }),
        ...(Number(ipUntil) > 0 && { ipBlockedUntil: new Date(Number(ipUntil)) }),
      };
    },

    async state(userId, now): Promise<AttemptState> {
      await started();
      const keys = (await redis.smembers(userKey(userId))).sort();
      const state: AttemptState = { accounts: [], pairs: [], ips: [] };
      const prefix = (type: string) => `gh:${type}:${userId}:`;
      for (const key of keys) {
        const fields = await redis.hgetall(key);
        if (!fields.f) {
          await redis.srem(userKey(userId), key); // expired: the user's index forgets it too
          continue;
        }
        if (key.startsWith(prefix('a'))) {
          const locked = Number(fields.l ?? 0);
          state.accounts.push({
            kind: key.slice(prefix('a').length),
            failures: Number(fields.f),
            locked_until: locked > 0 ? new Date(locked) : null,
            hard_locked: fields.h === '1',
            updated_at: new Date(Number(fields.t ?? 0)),
          });
        } else if (key.startsWith(prefix('p'))) {
          const rest = key.slice(prefix('p').length);
          const split = rest.indexOf(':');
          const blocked = Number(fields.b ?? 0);
          state.pairs.push({
            kind: rest.slice(0, split),
            ip: rest.slice(split + 1),
            failures: Number(fields.f),
            blocked_until: blocked > 0 ? new Date(blocked) : null,
          });
        }
      }
      for (const ip of new Set(state.pairs.map((pair) => pair.ip))) {
        const fields = await redis.hgetall(ipKey(ip));
        const blocked = Number(fields.b ?? 0);
        if (blocked > now.getTime()) state.ips.push({ ip, failures: Number(fields.f), blocked_until: new Date(blocked) });
      }
      return state;
    },

    async addressFailures(ip, windowSeconds, now) {
      await started();
      const [failures, windowStart, blocked] = await redis.hmget(ipKey(ip), 'f', 'w', 'b');
      const current = Number(windowStart ?? 0) > now.getTime() - windowSeconds * 1000 || Number(blocked ?? 0) > now.getTime();
      return current ? Number(failures ?? 0) : 0;
    },

    async clearUser(userId, kinds) {
      await started();
      const all = await redis.smembers(userKey(userId));
      // Keys are gh:a:<subject>:<kind> and gh:p:<subject>:<kind>:<ip>.
      const keys = kinds ? all.filter((key) => kinds.includes(key.split(':')[3] as AttemptKind)) : all;
      const removed = keys.length > 0 ? await redis.del(...keys) : 0;
      if (keys.length > 0) await redis.srem(userKey(userId), ...keys);
      return removed;
    },

    async clearPair(userId, kind, ip) {
      await started();
      const key = `gh:p:${userId}:${kind}:${ip}`;
      await redis.srem(userKey(userId), key);
      return (await redis.del(key)) > 0;
    },

    async prune() {
      return 0; // every key expires by itself
    },

    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
