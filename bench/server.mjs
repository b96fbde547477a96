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
import { createGatehouse } from '../dist/main/gatehouse.js';
import { parseConfig } from '../dist/platform/config.js';
import { uuidv7 } from '../dist/platform/ids.js';

const users = Number(process.env.BENCH_USERS ?? 1000);
const password = process.env.BENCH_PASSWORD ?? 'bench-password-123';
const config = parseConfig(
  {
    port: '0',
    masterKey: randomBytes(32).toString('base64'),
    adminPassword: 'bench-admin-password',
    logLevel: 'warn',
    dataDir: mkdtempSync(join(tmpdir(), 'gatehouse-bench-')),
    ...(process.env.BENCH_DATABASE_URL && { databaseUrl: process.env.BENCH_DATABASE_URL }),
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
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
