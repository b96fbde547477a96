/**
 * Audit chain throughput: events sealed per second and events verified per second, on
 * PGlite (or on PostgreSQL with BENCH_DATABASE_URL, in a database of its own). Bound: the
 * sealer must outpace the fastest writer of events, client-credentials tokens at the
 * budget of 1,000/s per core (DESIGN §8), each of which records `iam.token.created`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { sealAll } from '../src/ops/audit/chain.js';
import { verifyAuditChains } from '../src/ops/audit/verify.js';
import { auditRows, SYSTEM_ACTOR } from '../src/platform/audit/record.js';
import { openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { systemClock, uuidv7 } from '../src/platform/ids.js';
import { emptyPostgresDatabase } from '../test/helpers/database.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const TENANTS = 100;
const BOUND = 1000 * availableParallelism();

const postgres = process.env.BENCH_DATABASE_URL ? await emptyPostgresDatabase(process.env.BENCH_DATABASE_URL) : undefined;
const db = await openDatabase({ url: postgres?.url });
try {
  await migrateToLatest(db);
  const tenants = Array.from({ length: TENANTS }, () => randomUUID());
  const source = { ids: uuidv7, clock: systemClock };
  for (let i = 0; i < EVENTS; i += 1000) {
    const rows = Array.from({ length: Math.min(1000, EVENTS - i) }, (_, j) =>
      auditRows(source, {
        action: 'iam.token.created',
        actor: { ...SYSTEM_ACTOR, type: 'client', id: `client-${j % 50}`, ip: '10.0.0.1' },
        tenantId: tenants[(i + j) % TENANTS]!,
        details: { client_id: `client-${j % 50}`, grant: 'client_credentials', scope: 'read:things' },
      }),
    );
    await db
      .insertInto('audit_events')
      .values(rows.map((r) => r.audit))
      .execute();
  }
  const ctx = { db, masterKey: randomBytes(32), clock: systemClock };
  let start = performance.now();
  const sealed = await sealAll(ctx);
  const sealRate = sealed / ((performance.now() - start) / 1000);
  start = performance.now();
  const result = await verifyAuditChains(ctx);
  const verifyRate = result.events / ((performance.now() - start) / 1000);
  if (!result.ok || result.events !== EVENTS) throw new Error(`verify: ${JSON.stringify(result)}`);
  const where = postgres ? 'PostgreSQL' : 'PGlite';
  console.log(`audit chain on ${where}, ${EVENTS} events in ${TENANTS} chains`);
  console.log(
    `  sealed:   ${Math.round(sealRate)} events/s   (bound: ≥ ${BOUND}/s, the token budget of ${availableParallelism()} cores) ${sealRate >= BOUND ? 'OK' : 'BELOW'}`,
  );
  console.log(`  verified: ${Math.round(verifyRate)} events/s`);
} finally {
  await db.destroy();
  await postgres?.drop();
}
