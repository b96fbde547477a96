/**
 * `npm run bench`: event delivery from the outbox (issue 6), measured in one run:
 *
 * 1. Events per second from the outbox to RabbitMQ (topic exchange `event-bus`, persistent
 *    messages, publisher confirms, one delivery row per event marked delivered), beside
 *    bare amqplib publishing the same messages with confirms. Target: >= 1,000/s.
 * 2. Events per second from the outbox to a local webhook receiver (signed POSTs, in order
 *    per tenant), beside bare keep-alive POSTs of the same bodies to the same receiver.
 *    Target: >= 500/s.
 *
 * The receiver runs in a process of its own; the database is PGlite in a temporary data
 * directory (BENCH_DATABASE_URL for PostgreSQL); RabbitMQ at BENCH_AMQP_URL
 * (default amqp://guest:guest@127.0.0.1:5672).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import pino from 'pino';
import { createContext } from '../src/main/gatehouse.js';
import { EXCHANGE } from '../src/ops/events/amqp.js';
import { amqpBody, type EventRecord, webhookBody } from '../src/ops/events/message.js';
import { createDelivery } from '../src/ops/events/worker.js';
import { createWebhook } from '../src/ops/webhooks/webhooks.js';
import { auditRows, SYSTEM_ACTOR } from '../src/platform/audit/record.js';
import { parseConfig } from '../src/platform/config.js';
import type { AppContext } from '../src/platform/context.js';
import { openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { uuidv7 } from '../src/platform/ids.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10);
const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const TARGETS = { amqp: 1000, webhook: 500 };

const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-events-'));
const config = parseConfig(
  {
    masterKey: randomBytes(32).toString('base64'),
    dataDir,
    webhookAllowedNetworks: '127.0.0.1/32',
    ...(process.env.BENCH_DATABASE_URL && { databaseUrl: process.env.BENCH_DATABASE_URL }),
  },
  false,
);
const db = await openDatabase({ url: config.databaseUrl, dataDir });
await migrateToLatest(db);
const ctx: AppContext = await createContext(config, pino({ level: 'warn' }), db);
const tenants = Array.from({ length: TENANTS }, () => uuidv7.next());

/** Writes `count` events to the audit table and the outbox, as the server does; returns their records. */
async function record(count: number): Promise<EventRecord[]> {
  const records: EventRecord[] = [];
  for (let start = 0; start < count; start += 500) {
    const rows = Array.from({ length: Math.min(500, count - start) }, (_, i) =>
      auditRows(ctx, {
        action: 'iam.user.modified',
        actor: SYSTEM_ACTOR,
        tenantId: tenants[(start + i) % TENANTS] as string,
        target: { type: 'user', id: uuidv7.next() },
        details: { fields: ['name'] },
      }),
    );
    await db
      .insertInto('audit_events')
      .values(rows.map((r) => r.audit))
      .execute();
    await db
      .insertInto('event_outbox')
      .values(rows.map((r) => r.outbox))
      .execute();
    records.push(...rows.map((r) => JSON.parse(r.outbox.payload as string) as EventRecord));
  }
  return records;
}

async function timed(task: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await task();
  return (performance.now() - start) / 1000;
}

const receiver = fork(new URL('./receiver.mjs', import.meta.url).pathname, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const [{ port }] = (await once(receiver, 'message')) as [{ port: number }];
const line = (label: string, events: number, seconds: number) => `${label.padEnd(62)} ${(events / seconds).toFixed(0).padStart(7)}/s`;

try {
  // 1. RabbitMQ.
  const toBroker = await record(EVENTS);
  const viaOutbox = createDelivery(ctx, { amqpUrl: AMQP_URL });
  const outboxAmqp = await timed(() => viaOutbox.deliverPending());
  await viaOutbox.stop();
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
  const bareAmqp = await timed(async () => {
    for (const r of toBroker) {
      if (!channel.publish(EXCHANGE, r.action, amqpBody(r), { persistent: true, contentType: 'application/json', messageId: r.id })) {
        await once(channel, 'drain');
      }
    }
    await channel.waitForConfirms();
  });
  await connection.close();

  // 2. A webhook receiver (every event, one system-wide webhook, a lane per tenant).
  await createWebhook(ctx, { kind: 'system', held: new Set(['all']) }, SYSTEM_ACTOR, {
    url: `http://127.0.0.1:${port}/hook`,
    events: ['*'],
  });
  const toReceiver = await record(EVENTS);
  const viaWebhooks = createDelivery(ctx, { amqpUrl: undefined });
  const outboxWebhook = await timed(() => viaWebhooks.deliverPending());
  await viaWebhooks.stop();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const bareWebhook = await timed(async () => {
    const queue = [...toReceiver];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let r = queue.shift(); r; r = queue.shift()) {
          const body = webhookBody(r);
          await new Promise<void>((resolve, reject) => {
            const req = http.request(
              {
                host: '127.0.0.1',
                port,
                path: '/hook',
                method: 'POST',
                agent,
                headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
              },
              (res) => res.resume().on('end', resolve),
            );
            req.on('error', reject);
            req.end(body);
          });
        }
      }),
    );
  });
  agent.destroy();

  const undelivered = await db.selectFrom('event_deliveries').select('id').where('status', '<>', 'delivered').execute();
  console.log(`${EVENTS} events per measurement, ${TENANTS} tenants; database: ${config.databaseUrl ? 'PostgreSQL' : 'PGlite'}`);
  console.log(line('outbox → RabbitMQ (confirmed, rows marked delivered):', EVENTS, outboxAmqp));
  console.log(line('  for reference, bare amqplib publish + confirms, same messages:', EVENTS, bareAmqp));
  console.log(line('outbox → webhook (signed POST, in order per tenant):', EVENTS, outboxWebhook));
  console.log(line('  for reference, bare keep-alive POSTs, 8 at once, same bodies:', EVENTS, bareWebhook));
  const met = (rate: number, target: number) => `${rate.toFixed(0)}/s, target >= ${target}/s: ${rate >= target ? 'met' : 'NOT met'}`;
  console.log(`RabbitMQ: ${met(EVENTS / outboxAmqp, TARGETS.amqp)}; webhook: ${met(EVENTS / outboxWebhook, TARGETS.webhook)}`);
  if (undelivered.length > 0) {
    console.log(`${undelivered.length} deliveries were not delivered`);
    process.exitCode = 1;
  }
} finally {
  receiver.kill();
  await ctx.changes.close();
  await db.destroy();
  await ctx.passwords.close();
  rmSync(dataDir, { recursive: true, force: true });
}
