import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { EXCHANGE } from '../../src/ops/events/amqp.js';
import { auditRows, SYSTEM_ACTOR } from '../../src/platform/audit/record.js';
import { type Db, openDatabase } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { uuidv7 } from '../../src/platform/ids.js';
import { emptyPostgresDatabase, TEST_DATABASE_URL } from '../helpers/database.js';

/** The RabbitMQ the RabbitMQ tests run against (CI: amqp://guest:guest@127.0.0.1:5672). Never skipped. */
export const AMQP_URL: string = (() => {
  const url = process.env.GATEHOUSE_TEST_AMQP_URL;
  if (!url)
    throw new Error('GATEHOUSE_TEST_AMQP_URL is not set: the RabbitMQ tests need a broker (e.g. amqp://guest:guest@127.0.0.1:5672)');
  return url;
})();

export interface Message {
  routingKey: string;
  properties: ConsumeMessage['properties'];
  body: { headers: { name: string; serviceName: string; createdAt: number }; payload: Record<string, any> };
}

/**
 * An OIH-style consumer: its own queue bound to the `event-bus` topic exchange with the
 * given routing-key patterns. Other test runs may publish to the same broker, so callers
 * filter what they expect (by tenant or target).
 */
export interface Consumer {
  messages: Message[];
  /** Resolves when `predicate` holds for the messages received so far. */
  until(predicate: (messages: Message[]) => boolean): Promise<void>;
  close(): Promise<void>;
}

export async function consume(patterns: string[]): Promise<Consumer> {
  const connection: ChannelModel = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  for (const pattern of patterns) await channel.bindQueue(queue, EXCHANGE, pattern);
  const messages: Message[] = [];
  let waiters: Array<() => void> = [];
  await channel.consume(
    queue,
    (msg) => {
      if (!msg) return;
      messages.push({ routingKey: msg.fields.routingKey, properties: msg.properties, body: JSON.parse(msg.content.toString('utf8')) });
      channel.ack(msg);
      for (const wake of waiters) wake();
    },
    { noAck: false },
  );
  return {
    messages,
    async until(predicate) {
      while (!predicate(messages)) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
        });
        waiters = [];
      }
    },
    async close() {
      await connection.close();
    },
  };
}

/** A TCP port nothing listens on (a broker that is down). */
export async function unusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A database a test and the child process it kills both open: a PostgreSQL database of its own, or a PGlite data directory. */
export interface SharedDatabase {
  /** The URL or the directory, as the child is given it. */
  location: string;
  open(): Promise<Db>;
  cleanup(): Promise<void>;
}

/** A migrated shared database with `events` `iam.role.created` events of `tenants` waiting in the outbox. */
export async function databaseWithOutbox(events: number, tenants: readonly string[], prefix: string): Promise<SharedDatabase> {
  let location: string;
  let cleanup: () => Promise<void>;
  if (TEST_DATABASE_URL) {
    const empty = await emptyPostgresDatabase(TEST_DATABASE_URL);
    location = empty.url;
    cleanup = empty.drop;
  } else {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    location = dir;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  const open = (): Promise<Db> => openDatabase(location.startsWith('postgres') ? { url: location } : { dataDir: location });
  const db = await open();
  await migrateToLatest(db);
  const source = { ids: uuidv7, clock: { now: () => new Date() } };
  for (let start = 0; start < events; start += 500) {
    const rows = Array.from({ length: Math.min(500, events - start) }, (_, i) =>
      auditRows(source, {
        action: 'iam.role.created',
        actor: SYSTEM_ACTOR,
        tenantId: tenants[(start + i) % tenants.length] as string,
        details: { n: start + i },
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
  }
  await db.destroy();
  return { location, open, cleanup };
}
