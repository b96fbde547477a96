/**
 * `npm run bench`: importing 100,000 users (issue 5, part 9) into the embedded database
 * (or, with BENCH_DATABASE_URL set to an empty database, PostgreSQL) through the same
 * function as POST /api/v1/users/import and `gatehouse users import`. Each user brings a
 * password hash (half bcrypt, one hash reused; half PBKDF2-SHA256, Django's form), a
 * membership with a role, and an audit event. Bound: 100,000 users in < 10 minutes.
 * Sign-in with an imported hash (verification and the upgrade to argon2id) is timed too.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { authenticate } from '../src/authn/sessions/sessions.js';
import { createGatehouse } from '../src/main/gatehouse.js';
import { importUsers } from '../src/ops/transfer/import.js';
import type { Numbered } from '../src/ops/transfer/lines.js';
import { SYSTEM_ACTOR } from '../src/platform/audit/record.js';
import { parseConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db/database.js';
import { createLogger } from '../src/platform/logger.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const BOUND_SECONDS = 600;
const PASSWORD = 'bench-password-for-every-user';

const db = await openDatabase(process.env.BENCH_DATABASE_URL ? { url: process.env.BENCH_DATABASE_URL } : {});
const config = parseConfig(
  {
    masterKey: randomBytes(32).toString('base64'),
    adminEmail: 'admin@bench.test',
    adminPassword: 'bench-admin-password',
    dataDir: '/nonexistent',
    logLevel: 'error',
  },
  false,
);
const gatehouse = await createGatehouse(config, { db, background: false, log: createLogger(config) });
const { ctx } = gatehouse;
await ctx.db
  .insertInto('tenants')
  .values({
    id: ctx.ids.next(),
    slug: 'bench',
    name: 'Bench',
    status: 'active',
    branding: '{}',
    created_at: new Date(),
    updated_at: new Date(),
  })
  .execute();

const bcrypt = await bcryptHash(PASSWORD, 10);
const django = `pbkdf2_sha256$600000$benchsalt$${pbkdf2Sync(PASSWORD, 'benchsalt', 600_000, 32, 'sha256').toString('base64')}`;

async function* lines(): AsyncGenerator<Numbered<string>> {
  for (let i = 1; i <= USERS; i++) {
    const record = {
      email: `user${i}@bench.test`,
      email_verified: true,
      given_name: 'Bench',
      family_name: `User ${i}`,
      password_hash: i % 2 ? bcrypt : django,
      user_metadata: { plan: 'basic' },
      gatehouse: { tenants: [{ tenant: 'bench', roles: ['USER'] }] },
    };
    yield { line: i, value: JSON.stringify(record) };
  }
}

const system = { kind: 'system', held: new Set(['all']) } as const;
const started = performance.now();
const report = await importUsers(ctx, system, SYSTEM_ACTOR, lines(), { format: 'jsonl' });
const seconds = (performance.now() - started) / 1000;
if (report.failed > 0 || report.created !== USERS) throw new Error(`Import failed: ${JSON.stringify(report).slice(0, 500)}`);

const signIn = async (email: string) => {
  const t = performance.now();
  await authenticate(ctx, { username: email, password: PASSWORD }, SYSTEM_ACTOR);
  return performance.now() - t;
};
const firstBcrypt = await signIn('user1@bench.test');
const firstPbkdf2 = await signIn('user2@bench.test');
const upgraded = await signIn('user1@bench.test');

const rate = USERS / seconds;
console.log(`import: ${USERS.toLocaleString('en')} users (${process.env.BENCH_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`);
console.log(`  total ${seconds.toFixed(1)} s, ${Math.round(rate).toLocaleString('en')} users/s   bound: 100,000 users in < 10 minutes`);
console.log(
  `  projected for 100,000 users: ${(100_000 / rate).toFixed(1)} s (${100_000 / rate < BOUND_SECONDS ? 'within' : 'OVER'} the bound)`,
);
console.log(
  `  first sign-in with the imported hash (verify + upgrade to argon2id): bcrypt cost 10 ${firstBcrypt.toFixed(0)} ms, PBKDF2 600k ${firstPbkdf2.toFixed(0)} ms; afterwards (argon2id) ${upgraded.toFixed(0)} ms`,
);
await gatehouse.close();
if (100_000 / rate >= BOUND_SECONDS) process.exitCode = 1;
