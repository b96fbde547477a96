/**
 * `npm run bench`: backup and restore of a deployment with 100,000 users (issue 6), on the
 * embedded database or, with BENCH_DATABASE_URL, PostgreSQL. The users (each with a
 * membership, an audit event and an argon2id hash) are seeded with SQL, then backed up to
 * a file (scrypt, AES-256-GCM chunks) and restored into a fresh database. Bound: each of
 * backup and restore under 60 s for 100,000 users, measured in this run; the process's peak
 * memory is printed beside the file size to show that neither holds the file in memory.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hash, verify } from '@node-rs/argon2';
import { sql } from 'kysely';
import { type BackupSummary, backupStream } from '../src/ops/backup/backup.js';
import { restoreBackup } from '../src/ops/backup/restore.js';
import { SYSTEM_ACTOR } from '../src/platform/audit/record.js';
import { ARGON2_PARAMS } from '../src/platform/crypto/passwords.js';
import { type Db, openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { systemClock, uuidv7 } from '../src/platform/ids.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const BOUND_SECONDS = 60;
const URL_ = process.env.BENCH_DATABASE_URL || undefined;
const PASSWORD = 'bench-password-for-every-user';
const PASSPHRASE = 'bench passphrase, long enough';

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

/** A fresh database: in-memory PGlite, or a new database on the PostgreSQL server. */
async function freshDb(): Promise<{ db: Db; drop: () => Promise<void> }> {
  if (!URL_) {
    const db = await openDatabase({});
    return { db, drop: () => db.destroy() };
  }
  const name = `gh_bench_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = await openDatabase({ url: URL_ });
  await sql.raw(`create database ${name}`).execute(admin);
  await admin.destroy();
  const url = new URL(URL_);
  url.pathname = `/${name}`;
  const db = await openDatabase({ url: url.toString() });
  return {
    db,
    drop: async () => {
      await db.destroy();
      const again = await openDatabase({ url: URL_ });
      await sql.raw(`drop database if exists ${name} with (force)`).execute(again);
      await again.destroy();
    },
  };
}

async function seed(db: Db): Promise<void> {
  const passwordHash = await hash(PASSWORD, ARGON2_PARAMS);
  const tenant = uuidv7.next();
  await db
    .insertInto('tenants')
    .values({ id: tenant, slug: 'bench', name: 'Bench', status: 'active', branding: '{}', updated_at: new Date() })
    .execute();
  await sql`
    insert into users (id, email, name, status, email_verified, home_tenant_id, password_hash, user_metadata, app_metadata, updated_at)
    select gen_random_uuid(), 'user' || i || '@bench.test', 'User ' || i, 'active', true, ${tenant}::uuid, ${passwordHash},
      jsonb_build_object('n', i), '{}', now()
    from generate_series(1, ${USERS}::int) as i`.execute(db);
  await sql`insert into memberships (tenant_id, user_id, updated_at) select home_tenant_id, id, now() from users`.execute(db);
  await sql`
    insert into audit_events (id, tenant_id, action, outcome, actor_type, target_type, target_id, details)
    select gen_random_uuid(), home_tenant_id, 'iam.user.created', 'success', 'system', 'user', id::text, '{}' from users`.execute(db);
}

const seconds = (start: number) => (performance.now() - start) / 1000;
const verdict = (s: number) => `bound < ${BOUND_SECONDS} s: ${s < BOUND_SECONDS ? 'met' : 'NOT met'}`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-backup-'));
  const file = join(dir, 'bench.ghbackup');
  const source = await freshDb();
  const target = await freshDb();
  try {
    await migrateToLatest(source.db);
    let start = performance.now();
    await seed(source.db);
    console.log(
      `database: ${URL_ ? 'PostgreSQL' : 'PGlite (in memory)'}; seeded ${USERS} users, memberships and audit events in ${seconds(start).toFixed(1)} s`,
    );

    const summary: BackupSummary = { rows: {}, bytes: 0 };
    const masterKey = Buffer.alloc(32, 7);
    peakRss = process.memoryUsage().rss;
    const rssBefore = peakRss;
    start = performance.now();
    const stream = backupStream({ db: source.db, masterKey, clock: systemClock, ids: uuidv7 }, PASSPHRASE, {
      actor: SYSTEM_ACTOR,
      summary,
    });
    await pipeline(Readable.from(stream), createWriteStream(file));
    const backupS = seconds(start);
    const rows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
    const mb = statSync(file).size / 1e6;
    console.log(
      `backup:  ${backupS.toFixed(1)} s, ${Math.round(USERS / backupS)} users/s, ${Math.round(rows / backupS)} rows/s, ${mb.toFixed(1)} MB file (${verdict(backupS)})`,
    );
    console.log(
      `         peak RSS ${((peakRss - rssBefore) / 1e6).toFixed(0)} MB above the start of the backup (the file is ${mb.toFixed(0)} MB)`,
    );

    await migrateToLatest(target.db);
    peakRss = process.memoryUsage().rss;
    const rssRestore = peakRss;
    start = performance.now();
    const restored = await restoreBackup(
      createReadStream(file),
      PASSPHRASE,
      { db: target.db, config: { masterKey, dataDir: dir }, clock: systemClock, ids: uuidv7 },
      { actor: SYSTEM_ACTOR },
    );
    const restoreS = seconds(start);
    console.log(
      `restore: ${restoreS.toFixed(1)} s, ${Math.round(USERS / restoreS)} users/s, ${Math.round(rows / restoreS)} rows/s (${verdict(restoreS)})`,
    );
    console.log(`         peak RSS ${((peakRss - rssRestore) / 1e6).toFixed(0)} MB above the start of the restore`);

    const sample = await target.db
      .selectFrom('users')
      .select(['email', 'password_hash'])
      .where('email', '=', `user${Math.ceil(USERS / 2)}@bench.test`)
      .executeTakeFirstOrThrow();
    const ok = restored.rows.users === USERS && (await verify(sample.password_hash!, PASSWORD));
    console.log(`check: ${restored.rows.users} users restored, ${sample.email}'s password verifies: ${ok ? 'yes' : 'NO'}`);
    if (!ok) process.exitCode = 1;
  } finally {
    clearInterval(sampler);
    await source.drop();
    await target.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
