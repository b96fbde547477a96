/**
 * The brute-force protection port (src/authn/protection/guard.ts decides, a store counts):
 * declared here because the context carries it (src/platform/context.ts); the PostgreSQL
 * and Redis stores live in src/authn/protection/ and src/main/gatehouse.ts builds one.
 */

/** What is being checked: counters of different kinds never mix (src/authn/protection/guard.ts). */
export type AttemptKind = 'password' | 'mfa' | 'recovery_code' | 'code';

/** One attempt's counters: the account (`subject`), the account and address pair, and the address. */
export interface AttemptKey {
  kind: AttemptKind;
  /** The user id, or `login:<keyed fingerprint>` for a login that names no account. */
  subject: string;
  userId: string | null;
  ip: string | null;
  /** False for a trusted network (or no address): the per-address throttle neither applies nor counts. */
  ipCounted: boolean;
}

/** An account's backoff in numbers (seconds): the failures before it starts, its delays, and the hard limit. */
export interface AccountRules {
  accountThreshold: number;
  initialDelaySeconds: number;
  maxDelaySeconds: number;
  hardLimit: number;
}

/**
 * The lockout policy in numbers (seconds); src/directory/policies/policies.ts holds the
 * values an administrator sets. Everything that answers 429 is the deployment's (the system
 * tenant's policy), the same for every login, known or not (decision 210); `quiet` is the
 * home tenant's account backoff, which refuses like a wrong password where it is stricter.
 */
export interface LockoutRules extends AccountRules {
  pairThreshold: number;
  pairBlockSeconds: number;
  ipThreshold: number;
  ipWindowSeconds: number;
  ipBlockSeconds: number;
  quiet: AccountRules;
}

export type RefusalReason = 'locked' | 'hard_locked' | 'pair_blocked' | 'ip_throttled';

/**
 * An admitted attempt has already been counted as a failure (`failures` is the account's
 * count with it): concurrent attempts cannot slip past the threshold while the first ones
 * are still being verified. `succeeded` takes the count back.
 */
export type Admission =
  | { admitted: true; failures: number; quiet: boolean }
  | { admitted: false; reason: RefusalReason; until: Date | null };

/** What a failure started: each is set only by the failure that began the block. */
export interface FailureOutcome {
  pairBlockedUntil?: Date;
  ipBlockedUntil?: Date;
}

export interface AccountState {
  kind: string;
  failures: number;
  locked_until: Date | null;
  hard_locked: boolean;
  /** The last counted attempt: the start of the current delay. */
  updated_at: Date;
}

export interface PairState {
  kind: string;
  ip: string;
  failures: number;
  blocked_until: Date | null;
}

export interface IpState {
  ip: string;
  failures: number;
  blocked_until: Date | null;
}

export interface AttemptState {
  accounts: AccountState[];
  pairs: PairState[];
  /** The throttle state of the addresses in `pairs`. */
  ips: IpState[];
}

/** Where the counters live: PostgreSQL, or Redis when GATEHOUSE_REDIS_URL is set. Same semantics. */
export interface ProtectionStore {
  admit(key: AttemptKey, rules: LockoutRules, now: Date): Promise<Admission>;
  succeeded(key: AttemptKey, now: Date): Promise<void>;
  failed(key: AttemptKey, rules: LockoutRules, now: Date): Promise<FailureOutcome>;
  state(userId: string, now: Date): Promise<AttemptState>;
  /**
   * Failed attempts from one client key (clientKey) in its current window, across every
   * account: bot defence's `on_risk` signal (src/authn/bot-defence/risk.ts). 0 when none.
   */
  addressFailures(ip: string, windowSeconds: number, now: Date): Promise<number>;
  /** Forgets every counter and block of a user; returns how many records it removed. */
  clearUser(userId: string, kinds?: readonly AttemptKind[]): Promise<number>;
  /** Ends one pair block (the unblock link); true when there was one. */
  clearPair(userId: string, kind: string, ip: string): Promise<boolean>;
  /**
   * Forgets what has expired (decision 215): addresses whose window and block are over, pairs
   * and accounts without a failure for `retentionSeconds` (a hard lock stays until it is
   * ended). Redis expires its keys by themselves.
   */
  prune(rules: Pick<LockoutRules, 'ipWindowSeconds'> & { retentionSeconds: number }, now: Date): Promise<number>;
  close(): Promise<void>;
}

/**
 * Brute-force protection on this node: the counters, shared by every node through the
 * store, and this node's short memory of the refusals it gave (guard.ts), keyed by attempt
 * kind, login and client key: when the refusal ends and when the node forgets it (epoch ms).
 */
export interface Protection {
  store: ProtectionStore;
  refusals: Map<string, { until: number; forgetAt: number }>;
  /** How many times `refusals` was dropped: a refusal decided before a drop is not kept after it. */
  refusalsDropped: number;
}
