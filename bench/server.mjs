/**
 * The server under benchmark, in its own process and from the compiled `dist/` (as
 * `npm start` runs it), so neither the load generator nor the TypeScript loader is
 * counted against it. Seeds `BENCH_USERS` users sharing one argon2id hash (hashing
 * 1,000 passwords would only slow the set-up), then listens on a free port.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { createGatehouse } from '../dist/main/gatehouse.js';
import { parseConfig } from '../dist/platform/config.js';
import { uuidv7 } from '../dist/platform/ids.js';

/**
 * Every statement the server sends to its database (one round trip each: a query, BEGIN,
 * COMMIT), counted at the drivers, so a bench can say how many one operation costs; on
 * request the statements themselves, to show them.
 */
let statements = 0;
let recorded;
for (const proto of [pg.Client.prototype, PGlite.prototype]) {
  const query = proto.query;
  proto.query = function (text, ...rest) {
    statements++;
    const answer = query.call(this, text, ...rest);
    if (recorded && answer?.then) {
      const start = performance.now();
      const entry = { text: typeof text === 'string' ? text : text?.text, ms: 0 };
      recorded.push(entry);
      answer.then(
        () => {
          entry.ms = performance.now() - start;
        },
        () => {},
      );
    }
    return answer;
  };
}
process.on('message', (message) => {
  if (message?.statements === 'count') process.send?.({ statements });
  if (message?.statements === 'record') {
    recorded = [];
    process.send?.({ recording: true });
  }
  if (message?.statements === 'stop') {
    process.send?.({ recorded });
    recorded = undefined;
  }
});

/**
 * On PostgreSQL (BENCH_DATABASE_URL names a server), a fresh database of its own for this
 * run, dropped when it stops: each run starts from the same empty state.
 */
let databaseUrl;
let dropDatabase = async () => {};
if (process.env.BENCH_DATABASE_URL) {
  const name = `gatehouse_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.BENCH_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(process.env.BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  dropDatabase = async () => {
    const admin = new pg.Client({ connectionString: process.env.BENCH_DATABASE_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
}

const users = Number(process.env.BENCH_USERS ?? 1000);
const password = process.env.BENCH_PASSWORD ?? 'bench-password-123';
const config = parseConfig(
  {
    port: '0',
    masterKey: randomBytes(32).toString('base64'),
    adminPassword: 'bench-admin-password',
    logLevel: 'warn',
    dataDir: mkdtempSync(join(tmpdir(), 'gatehouse-bench-')),
    ...(databaseUrl && { databaseUrl }),
  },
  false,
);
const { app, ctx } = await createGatehouse(config);
const hash = await ctx.passwords.hash(password);
const now = new Date();
for (let i = 0; i < users; i += 500) {
  await ctx.db
    .insertInto('users')
    .values(
      Array.from({ length: Math.min(500, users - i) }, (_, j) => ({
        id: uuidv7.next(),
        email: `user${i + j}@bench.test`,
        status: 'active',
        password_hash: hash,
        user_metadata: '{}',
        app_metadata: '{}',
        created_at: now,
        updated_at: now,
      })),
    )
    .onConflict((oc) => oc.doNothing())
    .execute();
}
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
process.on('SIGTERM', () =>
  app
    .close()
    .then(dropDatabase)
    .then(() => process.exit(0)),
);
