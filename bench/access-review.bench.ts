/**
 * `npm run bench`: the access review of a tenant of 5,000 members (issue 6, part 5: "a few
 * queries, not N+1"). Prints the queries one review runs beside its bound (a constant: 6),
 * and the time of one review beside a bare read of the same members (one query, no
 * permissions, flags or MFA) measured in the same run; the bound is 10× that read.
 * `BENCH_DATABASE_URL=postgres://…` runs it on PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import { pino } from 'pino';
import { bootstrap } from '../src/main/bootstrap.js';
import { createContext } from '../src/main/gatehouse.js';
import { reviewTenants } from '../src/ops/access-review/review.js';
import { parseConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { uuidv7 } from '../src/platform/ids.js';

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 5000);
const RUNS = Number(process.env.BENCH_ROUNDS ?? 5);
const QUERY_BOUND = 6;
const TIME_BOUND = 10;

const config = parseConfig(
  { masterKey: randomBytes(32).toString('base64'), adminPassword: 'bench-admin-password', logLevel: 'silent' },
  false,
);
const db = await openDatabase({ url: process.env.BENCH_DATABASE_URL });
const ctx = await createContext(config, pino({ level: 'silent' }), db);
await migrateToLatest(db);
await bootstrap(ctx);

const tenantId = uuidv7.next();
await db
  .insertInto('tenants')
  .values({ id: tenantId, slug: `bench-${Date.now()}`, name: 'Bench', status: 'active', branding: '{}', updated_at: new Date() })
  .execute();
const roles = await db.selectFrom('roles').select(['id', 'name']).where('tenant_id', 'is', null).execute();
const roleId = (name: string) => roles.find((r) => r.name === name)!.id;
const now = new Date();
for (let start = 0; start < MEMBERS; start += 1000) {
  const users = Array.from({ length: Math.min(1000, MEMBERS - start) }, (_, i) => ({
    id: uuidv7.next(),
    email: `member${start + i}@bench.test`,
    status: (start + i) % 50 === 0 ? ('pending' as const) : ('active' as const),
    home_tenant_id: tenantId,
    user_metadata: '{}',
    app_metadata: '{}',
    last_login_at: (start + i) % 3 === 0 ? null : now,
    updated_at: now,
  }));
  await db.insertInto('users').values(users).execute();
  await db
    .insertInto('memberships')
    .values(users.map((u) => ({ tenant_id: tenantId, user_id: u.id, updated_at: now })))
    .execute();
  await db
    .insertInto('membership_roles')
    .values(users.map((u, i) => ({ tenant_id: tenantId, user_id: u.id, role_id: roleId(i % 100 === 0 ? 'TENANT_ADMIN' : 'USER') })))
    .execute();
  await db
    .insertInto('membership_permissions')
    .values(users.filter((_, i) => i % 10 === 0).map((u) => ({ tenant_id: tenantId, user_id: u.id, permission: 'tenant.account.read' })))
    .execute();
}

let queries = 0;
const counting: KyselyPlugin = {
  transformQuery: (args) => {
    queries++;
    return args.node;
  },
  transformResult: async (args) => args.result,
};
const counted = { ...ctx, db: db.withPlugin(counting) };
const tenant = { id: tenantId, slug: 'bench', name: 'Bench', status: 'active' as const };

const time = async (task: () => Promise<unknown>) => {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    await task();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
};

await reviewTenants(counted, [tenant], { inactiveDays: 90 }); // warm up
queries = 0;
const [review] = await reviewTenants(counted, [tenant], { inactiveDays: 90 });
const perReview = queries;
const bare = await time(() =>
  db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .selectAll('u')
    .where('m.tenant_id', '=', tenantId)
    .execute(),
);
const full = await time(() => reviewTenants(ctx, [tenant], { inactiveDays: 90 }));

console.log(
  `access review of ${review!.members.length} members (${review!.summary.admin_without_mfa} admins without MFA, ${review!.summary.direct_grants} direct grants, ${review!.summary.invitation_pending} pending)`,
);
console.log(
  `  queries per review: ${perReview} (bound ${QUERY_BOUND}, whatever the number of members) ${perReview <= QUERY_BOUND ? 'OK' : 'OVER'}`,
);
console.log(
  `  median review: ${full.toFixed(1)} ms; bare read of the members: ${bare.toFixed(1)} ms; ratio ${(full / bare).toFixed(1)} (bound ${TIME_BOUND}) ${full / bare <= TIME_BOUND ? 'OK' : 'OVER'}`,
);
await ctx.changes.close();
await ctx.passwords.close();
await db.destroy();
