import { sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';

/** What the dashboard charts, and the audit event each counts (src/platform/audit/catalog.ts). */
export const ACTIVITY_SERIES = {
  sign_ins: 'iam.user.loginSucceeded',
  sign_in_failures: 'iam.user.loginFailed',
  lockouts: 'iam.user.locked',
  sign_ups: 'iam.user.signedUp',
} as const;
export type ActivitySeries = keyof typeof ACTIVITY_SERIES;
export type Interval = 'hour' | 'day';

const STEP_MS: Record<Interval, number> = { hour: 3_600_000, day: 86_400_000 };
/** At most this many buckets in one answer: a week by the hour, a year by the day. */
const MAX_BUCKETS: Record<Interval, number> = { hour: 7 * 24, day: 366 };

export interface ActivityBucket extends Record<ActivitySeries, number> {
  start: string;
}

/**
 * The smallest UUIDv7 (src/platform/ids.ts) of a millisecond: audit ids are time-ordered, so
 * a time range is an id range, which the (tenant_id, id) and (action, id) indexes serve.
 */
function firstIdAt(ms: number): string {
  const hex = ms.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

/**
 * Counts of sign-ins, failed sign-ins, lockouts and sign-ups per hour or day (UTC) in
 * [from, to), every bucket present (zero when quiet); `tenantId` null counts every tenant's.
 * Bad ranges answer 400 `invalid_field`.
 */
export async function activity(
  ctx: AppContext,
  tenantId: string | null,
  range: { from?: string | undefined; to?: string | undefined; interval?: Interval | undefined },
): Promise<{ from: string; to: string; interval: Interval; buckets: ActivityBucket[] }> {
  const interval = range.interval ?? 'day';
  const step = STEP_MS[interval];
  const to = Math.ceil((range.to ? Date.parse(range.to) : ctx.clock.now().getTime()) / step) * step;
  const from = Math.floor((range.from ? Date.parse(range.from) : to - 30 * step) / step) * step;
  if (from >= to) throw new AppError('invalid_field', '"from" must be before "to"', { field: 'from' });
  if ((to - from) / step > MAX_BUCKETS[interval]) {
    throw new AppError('invalid_field', `At most ${MAX_BUCKETS[interval]} buckets by ${interval}: narrow the range`, { field: 'from' });
  }
  const actions = Object.values(ACTIVITY_SERIES);
  let query = ctx.db
    .selectFrom('audit_events')
    // The bucket as seconds since the epoch, in UTC (a `timestamp` without zone has no other reading).
    .select([
      sql<string>`extract(epoch from date_trunc(${interval}, created_at at time zone 'UTC'))::bigint`.as('bucket'),
      'action',
      sql<string>`count(*)`.as('n'),
    ])
    .where('action', 'in', actions)
    .where('id', '>=', firstIdAt(from))
    .where('id', '<', firstIdAt(to))
    .groupBy(['bucket', 'action']);
  if (tenantId) query = query.where('tenant_id', '=', tenantId);
  const rows = await query.execute();

  const buckets = new Map<number, ActivityBucket>();
  for (let at = from; at < to; at += step) {
    buckets.set(at, { start: new Date(at).toISOString(), sign_ins: 0, sign_in_failures: 0, lockouts: 0, sign_ups: 0 });
  }
  const seriesOf = new Map(Object.entries(ACTIVITY_SERIES).map(([series, action]) => [action as string, series as ActivitySeries]));
  for (const row of rows) {
    const entry = buckets.get(Number(row.bucket) * 1000);
    const series = seriesOf.get(row.action);
    if (entry && series) entry[series] += Number(row.n);
  }
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval, buckets: [...buckets.values()] };
}
