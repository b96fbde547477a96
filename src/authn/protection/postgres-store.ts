import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Admission, AttemptKey, AttemptState, FailureOutcome, ProtectionStore } from '../../platform/ports/protection.js';

const later = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);

/**
 * The counters in PostgreSQL. Each step is one statement: an upsert counts atomically, so
 * any number of nodes (or concurrent requests) hammering one account never lose a count,
 * and the refusal of a locked attempt is decided in the same statement that would count it.
 */
export function createPostgresStore(db: Db): ProtectionStore {
  /** Attempts admitted with nothing to clear but their own count (a plain delete will do on success). */
  const clean = new Set<string>();
  const cleanKey = (key: AttemptKey) => `${key.subject}\0${key.kind}\0${key.ip ?? ''}`;
  return {
    async admit(key, rules, now): Promise<Admission> {
      const { subject, kind, userId, ip, ipCounted } = key;
      const { quiet } = rules;
      // The hot path of every sign-in: one statement that counts the attempt unless a block
      // or lockout applies; only a refusal reads why. `quiet` is decided from the row as it
      // was (the home tenant's stricter backoff), under the same row lock.
      const { rows } = await sql<{ failures: number; quiet: boolean; pair_failures: number | null }>`
        insert into attempt_accounts as a (subject, kind, user_id, failures, locked_until, hard_locked, quiet, updated_at)
        select ${subject}, ${kind}, ${userId}::uuid, 1,
          case when 1 >= ${rules.accountThreshold}::int
            then ${now}::timestamptz + make_interval(secs => ${rules.initialDelaySeconds}::float8) end,
          1 >= ${rules.hardLimit}::int, false, ${now}::timestamptz
        where not exists (
            select 1 from attempt_ips
            where ${ipCounted}::boolean and ip = ${ip}::text and blocked_until > ${now}::timestamptz)
          and not exists (
            select 1 from attempt_pairs
            where subject = ${subject} and kind = ${kind} and ip = ${ip}::text and blocked_until > ${now}::timestamptz)
        on conflict (subject, kind) do update set
          failures = a.failures + 1,
          locked_until = case when a.failures + 1 >= ${rules.accountThreshold}::int
            then ${now}::timestamptz + make_interval(secs => least(${rules.maxDelaySeconds}::float8,
              ${rules.initialDelaySeconds}::float8 * power(2, least(a.failures + 1 - ${rules.accountThreshold}::int, 30)))) end,
          hard_locked = a.failures + 1 >= ${rules.hardLimit}::int,
          quiet = a.failures >= ${quiet.accountThreshold}::int and (a.failures >= ${quiet.hardLimit}::int
            or ${now}::timestamptz < a.updated_at + make_interval(secs => least(${quiet.maxDelaySeconds}::float8,
              ${quiet.initialDelaySeconds}::float8 * power(2, least(a.failures - ${quiet.accountThreshold}::int, 30))))),
          updated_at = ${now}::timestamptz
        where not a.hard_locked and (a.locked_until is null or a.locked_until <= ${now}::timestamptz)
        returning a.failures, a.quiet,
          (select p.failures from attempt_pairs p where p.subject = ${subject} and p.kind = ${kind} and p.ip = ${ip}::text) as pair_failures`.execute(
        db,
      );
      const admitted = rows[0];
      if (admitted) {
        const failures = Number(admitted.failures);
        if (failures === 1 && admitted.pair_failures === null) {
          if (clean.size >= 10_000) clean.clear(); // attempts whose check threw: forget, the full delete is always right
          clean.add(cleanKey(key));
        }
        return { admitted: true, failures, quiet: admitted.quiet };
      }
      const { rows: why } = await sql<{
        ip_blocked_until: Date | null;
        pair_blocked_until: Date | null;
        locked_until: Date | null;
        hard_locked: boolean | null;
      }>`
        select
          (select blocked_until from attempt_ips
            where ${ipCounted}::boolean and ip = ${ip}::text and blocked_until > ${now}::timestamptz) as ip_blocked_until,
          (select blocked_until from attempt_pairs
            where subject = ${subject} and kind = ${kind} and ip = ${ip}::text and blocked_until > ${now}::timestamptz) as pair_blocked_until,
          (select locked_until from attempt_accounts where subject = ${subject} and kind = ${kind}) as locked_until,
          (select hard_locked from attempt_accounts where subject = ${subject} and kind = ${kind}) as hard_locked`.execute(db);
      const row = why[0]!;
      if (row.ip_blocked_until) return { admitted: false, reason: 'ip_throttled', until: new Date(row.ip_blocked_until) };
      if (row.pair_blocked_until) return { admitted: false, reason: 'pair_blocked', until: new Date(row.pair_blocked_until) };
      if (row.hard_locked) return { admitted: false, reason: 'hard_locked', until: null };
      return { admitted: false, reason: 'locked', until: row.locked_until ? new Date(row.locked_until) : now };
    },

    async succeeded(key, now) {
      // The common case (no earlier failure, no pair row): take back this attempt's own count.
      if (clean.delete(cleanKey(key))) {
        await db.deleteFrom('attempt_accounts').where('subject', '=', key.subject).where('kind', '=', key.kind).execute();
        return;
      }
      await sql`
        with account as (delete from attempt_accounts where subject = ${key.subject} and kind = ${key.kind})
        delete from attempt_pairs
        where subject = ${key.subject} and kind = ${key.kind} and ip = ${key.ip}::text
          and (blocked_until is null or blocked_until <= ${now}::timestamptz)`.execute(db);
    },

    async failed(key, rules, now): Promise<FailureOutcome> {
      clean.delete(cleanKey(key));
      const { subject, kind, userId, ip, ipCounted } = key;
      if (ip === null) return {};
      const pairUntil = later(now, rules.pairBlockSeconds);
      const ipUntil = later(now, rules.ipBlockSeconds);
      const windowStart = later(now, -rules.ipWindowSeconds);
      // A new window starts when the last one is over, or when a block has ended.
      const reset = sql`(i.window_started_at <= ${windowStart}::timestamptz or i.blocked_until <= ${now}::timestamptz)`;
      const { rows } = await sql<{
        pair_failures: number | null;
        pair_blocked_until: Date | null;
        ip_failures: number | null;
        ip_blocked_until: Date | null;
      }>`
        with pair as (
          insert into attempt_pairs as p (subject, kind, ip, user_id, failures, blocked_until, updated_at)
          values (${subject}, ${kind}, ${ip}, ${userId}::uuid, 1,
            case when 1 >= ${rules.pairThreshold}::int then ${pairUntil}::timestamptz end, ${now}::timestamptz)
          on conflict (subject, kind, ip) do update set
            failures = case when p.blocked_until <= ${now}::timestamptz then 1 else p.failures + 1 end,
            blocked_until = case
              when p.blocked_until > ${now}::timestamptz then p.blocked_until
              when (case when p.blocked_until <= ${now}::timestamptz then 1 else p.failures + 1 end) >= ${rules.pairThreshold}::int
                then ${pairUntil}::timestamptz end,
            updated_at = ${now}::timestamptz
          returning p.failures, p.blocked_until
        ), address as (
          insert into attempt_ips as i (ip, failures, window_started_at, blocked_until)
          select ${ip}, 1, ${now}::timestamptz, case when 1 > ${rules.ipThreshold}::int then ${ipUntil}::timestamptz end
          where ${ipCounted}::boolean
          on conflict (ip) do update set
            failures = case when ${reset} then 1 else i.failures + 1 end,
            window_started_at = case when ${reset} then ${now}::timestamptz else i.window_started_at end,
            blocked_until = case
              when i.blocked_until > ${now}::timestamptz then i.blocked_until
              when (case when ${reset} then 1 else i.failures + 1 end) > ${rules.ipThreshold}::int then ${ipUntil}::timestamptz end
          returning i.failures, i.blocked_until
        )
        select (select failures from pair) as pair_failures, (select blocked_until from pair) as pair_blocked_until,
          (select failures from address) as ip_failures, (select blocked_until from address) as ip_blocked_until`.execute(db);
      const row = rows[0]!;
      return {
        ...(Number(row.pair_failures) === rules.pairThreshold &&
          row.pair_blocked_until && { pairBlockedUntil: new Date(row.pair_blocked_until) }),
        ...(Number(row.ip_failures) === rules.ipThreshold + 1 &&
          row.ip_blocked_until && { ipBlockedUntil: new Date(row.ip_blocked_until) }),
      };
    },

    async state(userId, now): Promise<AttemptState> {
      const [accounts, pairs] = await Promise.all([
        db
          .selectFrom('attempt_accounts')
          .select(['kind', 'failures', 'locked_until', 'hard_locked', 'updated_at'])
          .where('user_id', '=', userId)
          .orderBy('kind')
          .execute(),
        db
          .selectFrom('attempt_pairs')
          .select(['kind', 'ip', 'failures', 'blocked_until'])
          .where('user_id', '=', userId)
          .orderBy('kind')
          .orderBy('ip')
          .execute(),
      ]);
      const addresses = [...new Set(pairs.map((pair) => pair.ip))];
      const ips =
        addresses.length === 0
          ? []
          : await db
              .selectFrom('attempt_ips')
              .select(['ip', 'failures', 'blocked_until'])
              .where('ip', 'in', addresses)
              .where('blocked_until', '>', now)
              .execute();
      return { accounts, pairs, ips };
    },

    async addressFailures(ip, windowSeconds, now) {
      const row = await db
        .selectFrom('attempt_ips')
        .select('failures')
        .where('ip', '=', ip)
        .where((eb) => eb.or([eb('window_started_at', '>', later(now, -windowSeconds)), eb('blocked_until', '>', now)]))
        .executeTakeFirst();
      return Number(row?.failures ?? 0);
    },

    async clearUser(userId, kinds) {
      const kindIn = kinds ? sql`and kind in (${sql.join(kinds)})` : sql``;
      const { rows } = await sql<{ n: number }>`
        with accounts as (delete from attempt_accounts where user_id = ${userId}::uuid ${kindIn} returning 1),
        pairs as (delete from attempt_pairs where user_id = ${userId}::uuid ${kindIn} returning 1)
        select (select count(*) from accounts) + (select count(*) from pairs) as n`.execute(db);
      return Number(rows[0]?.n ?? 0);
    },

    async clearPair(userId, kind, ip) {
      const result = await db
        .deleteFrom('attempt_pairs')
        .where('user_id', '=', userId)
        .where('kind', '=', kind)
        .where('ip', '=', ip)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async prune(rules, now) {
      const idle = later(now, -rules.retentionSeconds);
      const { rows } = await sql<{ n: number }>`
        with accounts as (
          delete from attempt_accounts where not hard_locked and updated_at <= ${idle}::timestamptz
            and (locked_until is null or locked_until <= ${now}::timestamptz) returning 1
        ), pairs as (
          delete from attempt_pairs where updated_at <= ${idle}::timestamptz
            and (blocked_until is null or blocked_until <= ${now}::timestamptz) returning 1
        ), ips as (
          delete from attempt_ips where window_started_at <= ${later(now, -rules.ipWindowSeconds)}::timestamptz
            and (blocked_until is null or blocked_until <= ${now}::timestamptz) returning 1
        )
        select (select count(*) from accounts) + (select count(*) from pairs) + (select count(*) from ips) as n`.execute(db);
      return Number(rows[0]?.n ?? 0);
    },

    async close() {},
  };
}
