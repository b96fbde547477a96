import { BlockList, isIPv6 } from 'node:net';
import { type Policies, parseNetwork, resolvePolicies, tenantPolicies } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import { fingerprint } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';
import { unmapped } from '../../platform/ip.js';
import { loginKey } from '../../platform/mail/address.js';
import type { Admission, AttemptKey, AttemptKind, LockoutRules } from '../../platform/ports/protection.js';
import { clientKey } from './client-key.js';
import { recordBlocks } from './notify.js';

export interface AttemptSubject {
  /** The account, when known; null for an unknown username (counted under `login`, like a known one). */
  userId: string | null;
  /** The login as typed; the account key when userId is null (normalised like an address lookup, lower-cased). */
  login: string;
  /** The client's address as the request came (keyed here: IPv6 by /64, decision 214). */
  ip: string | null;
  /** The tenant whose lockout policy applies (the user's home tenant; null: the system tenant's). */
  tenantId: string | null;
}

/**
 * Refuses with AppError('too_many_attempts') (429; details.retry_after in seconds; the HTTP layer sets Retry-After)
 * WITHOUT calling `check` when a lockout, pair block, hard limit or IP throttle applies. Otherwise runs `check`;
 * false counts one failure (and may lock, block, notify, audit) and throws `failure()`; true clears the account's
 * consecutive failures (and the pair's).
 *
 * The attempt is counted before `check` runs and the count is taken back when it succeeds,
 * so a burst of concurrent guesses cannot slip past the threshold while the first ones are
 * still being hashed. A `check` that throws an AppError (a malformed code) counts as a
 * failure and its error is passed on.
 *
 * Every 429 follows the deployment's schedule (the system tenant's policy), for known and
 * unknown logins alike; a home tenant's stricter backoff refuses QUIETLY: `check` does not
 * run, the attempt costs what a wrong one costs and fails as a wrong one (decision 210).
 */
export async function guardAttempt(
  ctx: AppContext,
  kind: AttemptKind,
  subject: AttemptSubject,
  check: () => Promise<boolean>,
  failure: () => AppError,
): Promise<void> {
  // A user without a home tenant (and an unknown login) follows the system tenant's policy.
  const system = await systemPolicies(ctx);
  const policies = subject.tenantId ? await tenantPolicies(ctx, subject.tenantId) : system;
  const rules = lockoutRules(policies, system);
  const key: AttemptKey = {
    kind,
    subject: subject.userId ?? `login:${fingerprint(ctx.masterKey, 'attempt-login', normalLogin(subject.login))}`,
    userId: subject.userId,
    ip: clientKey(subject.ip),
    ipCounted: subject.ip !== null && !isTrusted(system.lockout.trusted_networks, subject.ip),
  };
  const { store } = ctx.protection;
  const now = ctx.clock.now();
  assertNotRefusedRecently(ctx, kind, subject.login, subject.ip);
  const since = ctx.protection.refusalsDropped;
  const admission = await store.admit(key, rules, now);
  if (!admission.admitted) {
    const retryAfter = retryAfterSeconds(admission, rules, now);
    rememberRefusal(ctx, since, kind, subject.login, subject.ip, now.getTime() + retryAfter * 1000);
    throw tooManyAttempts(retryAfter);
  }

  let ok: boolean;
  try {
    ok = admission.quiet ? await refuseQuietly(ctx, kind) : await check();
  } catch (error) {
    if (error instanceof AppError) await countFailure(ctx, key, subject, rules, admission.failures);
    throw error;
  }
  if (ok) {
    await store.succeeded(key, ctx.clock.now());
    return;
  }
  await countFailure(ctx, key, subject, rules, admission.failures);
  throw failure();
}

/** A quiet refusal costs what a wrong answer costs: a password attempt hashes (against the dummy hash), then fails. */
async function refuseQuietly(ctx: AppContext, kind: AttemptKind): Promise<false> {
  if (kind === 'password') await ctx.passwords.verify(null, 'quiet-refusal');
  return false;
}

/** The one form of a login the counters and the refusal memory know it by: "Ann@Example.org." is ann@example.org (decision 211). */
const normalLogin = (login: string) => loginKey(login).toLowerCase();

async function countFailure(ctx: AppContext, key: AttemptKey, subject: AttemptSubject, rules: LockoutRules, failures: number) {
  const now = ctx.clock.now();
  const outcome = await ctx.protection.store.failed(key, rules, now);
  await recordBlocks(ctx, { key, tenantId: subject.tenantId, rules, failures, outcome, now });
}

/**
 * Each node remembers its refusals (`ctx.protection.refusals`) for at most two seconds, so a
 * guesser hammering a locked account is refused without a database round trip, not even the
 * user lookup. An unlock, a followed link or a new password on any node, or a change of a
 * tenant's policies, makes every node forget them at once (the change feed,
 * docs/architecture.md#nodes-and-caches); while the feed is down they are neither kept nor used.
 */
const REFUSAL_MEMORY_MS = 2_000;
const MAX_REFUSALS = 10_000;

const refusalKey = (kind: AttemptKind, login: string, ip: string | null) => `${kind}\0${normalLogin(login)}\0${clientKey(ip) ?? ''}`;

/** A refusal decided before the memory was last dropped (`since`) is not remembered: an unlock may have ended it. */
function rememberRefusal(ctx: AppContext, since: number, kind: AttemptKind, login: string, ip: string | null, until: number): void {
  if (!ctx.changes.live || ctx.protection.refusalsDropped !== since) return;
  const memory = ctx.protection.refusals;
  const now = ctx.clock.now().getTime();
  memory.set(refusalKey(kind, login, ip), { until, forgetAt: Math.min(until, now + REFUSAL_MEMORY_MS) });
  if (memory.size > MAX_REFUSALS) memory.delete(memory.keys().next().value as string);
}

/** Throws the refusal this node gave the same login from the same address moments ago, if it still holds. */
export function assertNotRefusedRecently(ctx: AppContext, kind: AttemptKind, login: string, ip: string | null): void {
  const memory = ctx.protection.refusals;
  if (memory.size === 0 || !ctx.changes.live) return;
  const key = refusalKey(kind, login, ip);
  const refusal = memory.get(key);
  if (!refusal) return;
  const now = ctx.clock.now().getTime();
  if (refusal.forgetAt <= now) {
    memory.delete(key);
    return;
  }
  throw tooManyAttempts(Math.max(1, Math.ceil((refusal.until - now) / 1000)));
}

/** An unlock, a followed link, a new password or a policy change: this node forgets its refusals at once. */
export function forgetRefusals(ctx: AppContext): void {
  ctx.protection.refusalsDropped++;
  ctx.protection.refusals.clear();
}

/** The one refusal, alike for every account (known or not) and every reason. */
export function tooManyAttempts(retryAfter: number): AppError {
  return new AppError('too_many_attempts', 'Too many attempts; try again later', { retry_after: retryAfter });
}

function retryAfterSeconds(refusal: Exclude<Admission, { admitted: true }>, rules: LockoutRules, now: Date): number {
  // A hard lock ends only by a reset or an administrator; saying so would tell it apart.
  if (!refusal.until) return rules.maxDelaySeconds;
  return Math.max(1, Math.ceil((refusal.until.getTime() - now.getTime()) / 1000));
}

/**
 * What answers 429 is the deployment's: the system tenant's policy, the same for every login
 * (an unknown one has no tenant), so the answer never tells a known address from an unknown
 * one (decision 210). The home tenant's account backoff applies quietly where it is stricter.
 */
export function lockoutRules(home: Policies, system: Policies): LockoutRules {
  const deployment = system.lockout;
  const account = (lockout: Policies['lockout']) => ({
    accountThreshold: lockout.account_threshold,
    initialDelaySeconds: lockout.account_initial_delay_seconds,
    maxDelaySeconds: lockout.account_max_delay_seconds,
    hardLimit: lockout.hard_limit,
  });
  return {
    ...account(deployment),
    pairThreshold: deployment.pair_threshold,
    pairBlockSeconds: deployment.pair_block_days * 86_400,
    ipThreshold: deployment.ip_threshold,
    ipWindowSeconds: deployment.ip_window_seconds,
    ipBlockSeconds: deployment.ip_block_seconds,
    quiet: account(home.lockout),
  };
}

/**
 * The system tenant's policies (the per-address throttle is not a tenant's matter), read
 * afresh like any tenant's (decision 191): one read, by the flag that marks the system tenant.
 */
export async function systemPolicies(ctx: AppContext): Promise<Policies> {
  const row = await ctx.db.selectFrom('tenants').select('policies').where('is_system', '=', true).executeTakeFirstOrThrow();
  return resolvePolicies(row.policies);
}

const blockLists = new WeakMap<string[], BlockList>();

function isTrusted(networks: string[], ip: string): boolean {
  if (networks.length === 0) return false;
  let list = blockLists.get(networks);
  if (!list) {
    list = new BlockList();
    for (const network of networks) {
      const parsed = parseNetwork(network);
      if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    blockLists.set(networks, list);
  }
  // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
  const mapped = unmapped(ip);
  try {
    return list.check(mapped, isIPv6(mapped) ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}
