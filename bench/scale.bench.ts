/**
 * `npm run bench`: a million users on PostgreSQL (issue 18, part 4, "A million users"), in a
 * database of its own on the server of BENCH_DATABASE_URL (default: the local one). Prints
 * each figure beside its bound:
 * - `gatehouse users import` (the real CLI, a child process) of 1,000 users, then of the rest
 *   up to SCALE_USERS (default 1,000,000), from JSON lines with argon2id hashes (no hashing
 *   per user); the time of the whole;
 * - p50 of a password sign-in (`signIn`: the lookup, argon2id, the session, the audit event)
 *   at 1,000 users and at SCALE_USERS, within 10 %; each sample is paired with a bare argon2id
 *   verification, so a change of the machine's load between the two shows up beside it;
 * - an administrator's search by the start of an email address (listUsers, as
 *   GET /api/v1/users?email_prefix= runs it), p95 < 50 ms;
 * - the access review of a tenant of SCALE_REVIEW_MEMBERS (default 100,000), < 5 s;
 * - the audit list filtered by a user (as actor or as target) over SCALE_AUDIT_EVENTS
 *   (default 10,000,000) events written with generate_series, p95 < 100 ms.
 * SCALE_DATABASE_URL names an already seeded database to measure again without seeding.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { pino } from 'pino';
import { signIn } from '../src/authn/sessions/sessions.js';
import { listUsers } from '../src/directory/users/users.js';
import { createGatehouse } from '../src/main/gatehouse.js';
import { reviewTenants } from '../src/ops/access-review/review.js';
import { listAuditEvents } from '../src/ops/audit/queries.js';
import { SYSTEM_ACTOR } from '../src/platform/audit/record.js';
import { parseConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db/database.js';
import { uuidv7 } from '../src/platform/ids.js';
import { emptyPostgresDatabase } from '../test/helpers/database.js';

const USERS = Number(process.env.SCALE_USERS ?? 1_000_000);
const BASELINE_USERS = 1000;
const REVIEW_MEMBERS = Math.min(USERS, Number(process.env.SCALE_REVIEW_MEMBERS ?? 100_000));
const AUDIT_EVENTS = Number(process.env.SCALE_AUDIT_EVENTS ?? 10_000_000);
const SAMPLES = Number(process.env.SCALE_SAMPLES ?? 200);
const SIGN_INS = Number(process.env.SCALE_SIGN_INS ?? 60);
const SERVER_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const PASSWORD = 'scale-bench-password';
const MASTER_KEY = randomBytes(32).toString('base64');
const SYSTEM = { kind: 'system', held: new Set(['all']) } as const;

const FIRST = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj'];
const LAST = ['smith', 'jones', 'garcia', 'miller', 'davis', 'lopez', 'wilson', 'anderson', 'thomas', 'moore'];
const DOMAINS = ['example.com', 'mail.test', 'corp.example', 'uni.example'];
/** The n-th user's address: names repeat, so a prefix matches from a handful to a tenth of all users. */
const emailOf = (n: number) =>
  `${FIRST[n % FIRST.length]}.${LAST[Math.floor(n / FIRST.length) % LAST.length]}${n}@${DOMAINS[n % DOMAINS.length]}`;

const reused = process.env.SCALE_DATABASE_URL;
const own = reused ? undefined : await emptyPostgresDatabase(SERVER_URL);
const url = reused ?? own!.url;
const config = parseConfig({ masterKey: MASTER_KEY, databaseUrl: url, dataDir: '/nonexistent', logLevel: 'silent' }, false);
const gatehouse = await createGatehouse(config, { db: await openDatabase({ url }), background: false, log: pino({ level: 'silent' }) });
const { ctx } = gatehouse;
const work = mkdtempSync(join(tmpdir(), 'gatehouse-scale-'));
const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  console.log(line);
};

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const ms = (value: number) => `${value.toFixed(1)} ms`;
const verdict = (ok: boolean) => (ok ? 'OK' : 'OVER');

try {
  const existing = Number((await sql<{ n: string }>`select count(*) as n from users`.execute(ctx.db)).rows[0]!.n);
  const seeded = existing >= USERS;
  say(
    `scale on PostgreSQL ${(await sql<{ server_version: string }>`show server_version`.execute(ctx.db)).rows[0]!.server_version}, load average ${loadAverage()}`,
  );

  // The tenants: the first REVIEW_MEMBERS users join "review" (the access review's), the others "scale".
  for (const slug of ['review', 'scale']) {
    await ctx.db
      .insertInto('tenants')
      .values({ id: uuidv7.next(), slug, name: slug, status: 'active', branding: '{}', updated_at: new Date() })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  const hash = await ctx.passwords.hash(PASSWORD);
  const writeFile = async (name: string, from: number, to: number) => {
    const path = join(work, name);
    const out = createWriteStream(path);
    for (let n = from; n <= to; n++) {
      const line = `${JSON.stringify({
        email: emailOf(n),
        email_verified: true,
        name: `User ${n}`,
        password_hash: hash,
        gatehouse: { tenants: [{ tenant: n <= REVIEW_MEMBERS ? 'review' : 'scale' }] },
      })}\n`;
      if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise((resolve, reject) => out.end((error?: Error) => (error ? reject(error) : resolve(undefined))));
    return path;
  };
  const cliImport = async (path: string) => {
    const started = performance.now();
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/gatehouse.js', 'users', 'import', path], {
      env: {
        ...process.env,
        GATEHOUSE_DATABASE_URL: url,
        GATEHOUSE_MASTER_KEY: MASTER_KEY,
        GATEHOUSE_DATA_DIR: work,
        GATEHOUSE_LOG_LEVEL: 'warn',
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    if (!/; 0 records failed/.test(stdout)) throw new Error(`users import: ${stdout.slice(0, 2000)}`);
    return (performance.now() - started) / 1000;
  };

  // Sign-ins of random users among the first `among`, each beside a bare argon2id verification.
  const signIns = async (among: number) => {
    const total: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < SIGN_INS; i++) {
      let t = performance.now();
      await ctx.passwords.verify(hash, PASSWORD);
      bare.push(performance.now() - t);
      t = performance.now();
      await signIn(
        ctx,
        { username: emailOf(1 + randomInt(among)), password: PASSWORD },
        { ...SYSTEM_ACTOR, ip: `10.1.${i % 250}.${1 + (i % 200)}` },
      );
      total.push(performance.now() - t);
    }
    return { p50: percentile(total, 50), bare: percentile(bare, 50) };
  };

  let small: { p50: number; bare: number } | undefined;
  if (!seeded) {
    const t1 = await cliImport(await writeFile('first.jsonl', 1, BASELINE_USERS));
    small = await signIns(BASELINE_USERS);
    const rest = await writeFile('rest.jsonl', BASELINE_USERS + 1, USERS);
    const t2 = await cliImport(rest);
    const rate = (USERS - BASELINE_USERS) / t2;
    say(
      `users import (gatehouse users import, JSON lines with argon2id hashes): ${USERS.toLocaleString('en')} users in ${(t1 + t2).toFixed(1)} s ` +
        `(${BASELINE_USERS.toLocaleString('en')} in ${t1.toFixed(1)} s, then ${(USERS - BASELINE_USERS).toLocaleString('en')} at ${Math.round(rate).toLocaleString('en')} users/s)`,
    );
  } else {
    say(`users import: skipped, ${existing.toLocaleString('en')} users already in SCALE_DATABASE_URL`);
  }
  await sql`analyze`.execute(ctx.db);

  const large = await signIns(USERS);
  if (small) {
    const ratio = large.p50 / small.p50;
    say(
      `  p50 sign-in at ${BASELINE_USERS.toLocaleString('en')} users ${ms(small.p50)} (bare argon2id ${ms(small.bare)}), at ${USERS.toLocaleString('en')} ${ms(large.p50)} (bare argon2id ${ms(large.bare)}): ` +
        `${((ratio - 1) * 100).toFixed(1)} % (bound: within 10 %) ${verdict(ratio <= 1.1)}; beyond argon2id ${ms(small.p50 - small.bare)} → ${ms(large.p50 - large.bare)}`,
    );
  } else {
    say(`  p50 sign-in at ${USERS.toLocaleString('en')} users ${ms(large.p50)} (bare argon2id ${ms(large.bare)})`);
  }

  // Search by the start of an address, as an administrator types it: 1 to 20 characters of a real one.
  const search: number[] = [];
  const lengths = [1, 2, 3, 5, 8, 12, 20];
  let found = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const prefix = emailOf(1 + randomInt(USERS)).slice(0, lengths[i % lengths.length]);
    const tenant = i % 4 === 3 ? await tenantId('review') : undefined;
    const t = performance.now();
    const page = await listUsers(ctx, SYSTEM, { email_prefix: prefix, tenant }, { limit: 50 });
    search.push(performance.now() - t);
    found += page.items.length;
  }
  const searchP95 = percentile(search, 95);
  say(
    `  search by email prefix (GET /api/v1/users?email_prefix=, ${SAMPLES} prefixes of 1–20 characters, a quarter within a tenant; ${Math.round(found / SAMPLES)} users a page on average): ` +
      `p50 ${ms(percentile(search, 50))}, p95 ${ms(searchP95)} (bound: p95 < 50 ms) ${verdict(searchP95 < 50)}`,
  );

  // The access review of the tenant of REVIEW_MEMBERS members.
  const review = { id: await tenantId('review'), slug: 'review', name: 'review', status: 'active' as const };
  const reviews: number[] = [];
  let reviewed = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const [result] = await reviewTenants(ctx, [review], { inactiveDays: 90 });
    reviews.push(performance.now() - t);
    reviewed = result!.members.length;
  }
  const reviewWorst = Math.max(...reviews);
  say(
    `  access review of a tenant of ${reviewed.toLocaleString('en')} members: median ${ms(percentile(reviews, 50))}, slowest of 3 ${ms(reviewWorst)} (bound: < 5 s) ${verdict(reviewWorst < 5000)}`,
  );

  // The audit trail: AUDIT_EVENTS events by and about the users, written straight with generate_series.
  const events = Number((await sql<{ n: string }>`select count(*) as n from audit_events`.execute(ctx.db)).rows[0]!.n);
  if (events < AUDIT_EVENTS) {
    const started = performance.now();
    await seedAudit(AUDIT_EVENTS - events);
    say(
      `  audit events written with generate_series: ${(AUDIT_EVENTS - events).toLocaleString('en')} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  const sampleUsers = (await sql<{ id: string }>`select id::text from users tablesample system (1) limit ${SAMPLES}`.execute(ctx.db)).rows;
  const audit: number[] = [];
  let listed = 0;
  for (const [i, { id }] of sampleUsers.entries()) {
    const t = performance.now();
    const page = await listAuditEvents(ctx, SYSTEM, i % 2 ? { actor: id } : { target: id }, { limit: 50 });
    audit.push(performance.now() - t);
    listed += page.items.length;
  }
  const auditP95 = percentile(audit, 95);
  say(
    `  audit list by user over ${Math.max(events, AUDIT_EVENTS).toLocaleString('en')} events (${sampleUsers.length} users, as actor or target; ${(listed / Math.max(1, sampleUsers.length)).toFixed(1)} events a page on average): ` +
      `p50 ${ms(percentile(audit, 50))}, p95 ${ms(auditP95)} (bound: p95 < 100 ms) ${verdict(auditP95 < 100)}`,
  );
  say(`  load average at the end ${loadAverage()}`);
} finally {
  await gatehouse.close();
  rmSync(work, { recursive: true, force: true });
  if (process.env.SCALE_KEEP) console.log(`kept the database: SCALE_DATABASE_URL=${url}`);
  else await own?.drop();
}

async function tenantId(slug: string): Promise<string> {
  return (await ctx.db.selectFrom('tenants').select('id').where('slug', '=', slug).executeTakeFirstOrThrow()).id;
}

function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
}

/**
 * Events as the server writes them (sealed into their tenant's chain, as the sealer leaves
 * them), each by one user (the actor) about another (the target), in batches of a million.
 */
async function seedAudit(count: number): Promise<void> {
  await sql`create temporary table bench_users as select row_number() over () as n, id::text as id, home_tenant_id from users`.execute(
    ctx.db,
  );
  await sql`create index on bench_users (n)`.execute(ctx.db);
  const users = Number((await sql<{ n: string }>`select count(*) as n from bench_users`.execute(ctx.db)).rows[0]!.n);
  const actions = ['iam.user.login', 'iam.token.created', 'iam.user.modified', 'iam.user.loginFailed'];
  for (let from = 1; from <= count; from += 1_000_000) {
    const to = Math.min(count, from + 999_999);
    await sql`
      insert into audit_events (id, created_at, tenant_id, action, outcome, actor_type, actor_id, target_type, target_id, ip, details, chain_seq)
      select gen_random_uuid(), now() - make_interval(secs => ${count} - g.i), a.home_tenant_id,
             (${actions}::text[])[1 + g.i % 4], 'success', 'user', a.id, 'user', t.id, '10.0.0.1', '{}'::jsonb, g.i
      from generate_series(${from}::bigint, ${to}::bigint) as g(i)
      join bench_users a on a.n = 1 + (g.i * 7919) % ${users}
      join bench_users t on t.n = 1 + (g.i * 104729) % ${users}`.execute(ctx.db);
  }
  await sql`analyze audit_events`.execute(ctx.db);
}
