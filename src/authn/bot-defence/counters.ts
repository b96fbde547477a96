import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';

/**
 * Fixed-window counters in PostgreSQL (`bot_counters`, migration 0030), shared by every
 * node (decision 378). Each count is one conditional upsert: the row is counted only while
 * it is under its cap, so concurrent requests on any number of nodes cannot all slip under
 * it. A row lives one window (or interval) and is then pruned.
 */

/** Counted (and the count with this one), or refused with the seconds until the window ends. */
export type Hit = { counted: true; count: number } | { counted: false; retryAfter: number };

const seconds = (value: number) => sql`make_interval(secs => ${value}::float8)`;

/** Counts one under `key` in a window of `windowSeconds` unless `cap` are counted there already. */
export async function hit(db: Db, key: string, windowSeconds: number, cap: number, now: Date): Promise<Hit> {
  const fresh = sql`c.window_started_at <= ${now}::timestamptz - ${seconds(windowSeconds)}`;
  const { rows } = await sql<{ count: number }>`
    insert into bot_counters as c (key, window_started_at, count, last_at, expires_at)
    select ${key}, ${now}::timestamptz, 1, ${now}::timestamptz, ${now}::timestamptz + ${seconds(windowSeconds)}
    where ${cap}::int > 0
    on conflict (key) do update set
      count = case when ${fresh} then 1 else c.count + 1 end,
      window_started_at = case when ${fresh} then ${now}::timestamptz else c.window_started_at end,
      expires_at = case when ${fresh} then ${now}::timestamptz + ${seconds(windowSeconds)} else c.expires_at end,
      last_at = ${now}::timestamptz
    where (${fresh} or c.count < ${cap}::int) and ${cap}::int > 0
    returning c.count`.execute(db);
  const row = rows[0];
  if (row) return { counted: true, count: Number(row.count) };
  const current = await db.selectFrom('bot_counters').select('expires_at').where('key', '=', key).executeTakeFirst();
  const end = current ? new Date(current.expires_at).getTime() : now.getTime() + windowSeconds * 1000;
  return { counted: false, retryAfter: Math.max(1, Math.ceil((end - now.getTime()) / 1000)) };
}

/** Takes back one count (a later cap refused what this one allowed). */
export async function unhit(db: Db, key: string): Promise<void> {
  await db
    .updateTable('bot_counters')
    .set((eb) => ({ count: eb('count', '-', 1) }))
    .where('key', '=', key)
    .where('count', '>', 0)
    .execute();
}

/** The count under `key` in its current window (0 when none). */
export async function countOf(db: Db, key: string, now: Date): Promise<number> {
  const row = await db.selectFrom('bot_counters').select('count').where('key', '=', key).where('expires_at', '>', now).executeTakeFirst();
  return Number(row?.count ?? 0);
}

/**
 * Spacing: allowed when nothing happened under `key` in the last `intervalSeconds`, and
 * then marked; otherwise refused with the seconds left. One statement, so two resends at
 * once cannot both pass.
 */
export async function spaced(db: Db, key: string, intervalSeconds: number, now: Date): Promise<Hit> {
  if (intervalSeconds <= 0) return { counted: true, count: 1 };
  const { rows } = await sql<{ count: number }>`
    insert into bot_counters as c (key, window_started_at, count, last_at, expires_at)
    values (${key}, ${now}::timestamptz, 1, ${now}::timestamptz, ${now}::timestamptz + ${seconds(intervalSeconds)})
    on conflict (key) do update set
      count = c.count + 1,
      last_at = ${now}::timestamptz,
      expires_at = ${now}::timestamptz + ${seconds(intervalSeconds)}
    where c.last_at <= ${now}::timestamptz - ${seconds(intervalSeconds)}
    returning c.count`.execute(db);
  if (rows[0]) return { counted: true, count: Number(rows[0].count) };
  const current = await db.selectFrom('bot_counters').select('last_at').where('key', '=', key).executeTakeFirst();
  const last = current ? new Date(current.last_at).getTime() : now.getTime();
  return { counted: false, retryAfter: Math.max(1, Math.ceil((last + intervalSeconds * 1000 - now.getTime()) / 1000)) };
}

/** Forgets counters and spent solutions whose time is over (the sweep, src/main/jobs.ts). */
export async function pruneBotDefence(db: Db, now: Date): Promise<number> {
  const counters = await db.deleteFrom('bot_counters').where('expires_at', '<=', now).executeTakeFirst();
  const solutions = await db.deleteFrom('challenge_solutions').where('expires_at', '<=', now).executeTakeFirst();
  return Number(counters.numDeletedRows) + Number(solutions.numDeletedRows);
}
