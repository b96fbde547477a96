/**
 * Issue 18, part 1: after a missed notification the node reconnects and drops its caches.
 * The listener's connection is ended by the server (`pg_terminate_backend`, as a restart or
 * a failover would): the feed stops serving caches at once, connects again, drops every
 * cache, and a change made while nobody listened is honoured within one second. PostgreSQL
 * only: PGlite's notifications are in-process and have no connection to lose.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import pino from 'pino';
import { type ChangeFeed, createChangeFeed } from '../../src/platform/db/change-feed.js';
import { type Db, openDatabase } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { type Node, node, postgresUrl, testConfig } from '../helpers/backup.js';
import { emptyPostgresDatabase } from '../helpers/database.js';
import { postToken } from '../helpers/token-endpoint.js';

const BOUND_MS = 1_000;

async function within(what: string, check: () => Promise<boolean> | boolean, bound = BOUND_MS): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > bound) assert.fail(`${what}: not within ${bound} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Ends every change-feed connection to this database, as the server would in a restart; returns how many. */
async function terminateListeners(db: Kysely<any>): Promise<number> {
  const { rows } = await sql<{ pid: number }>`
    select pg_terminate_backend(pid) as ended, pid from pg_stat_activity
    where application_name = 'gatehouse-changes' and datname = current_database()`.execute(db);
  return rows.length;
}

describe('the change feed on PostgreSQL loses its connection', { timeout: 120_000 }, () => {
  let drop: () => Promise<void>;
  let db: Db;

  before(async () => {
    const empty = await emptyPostgresDatabase(postgresUrl());
    db = await openDatabase({ url: empty.url });
    await migrateToLatest(db);
    drop = async () => {
      await db.destroy();
      await empty.drop();
    };
  });
  after(() => drop());

  it('is not live while disconnected, reconnects, drops every cache on reconnection, then hears changes again', async (t) => {
    const feed: ChangeFeed = await createChangeFeed(db, pino({ level: 'silent' }));
    try {
      assert.equal(feed.live, true);
      const drops: string[] = [];
      feed.subscribe(['ip_blocks'], () => drops.push('ip_blocks'));
      feed.subscribe(['signing_keys'], () => drops.push('signing_keys'));

      await sql`delete from ip_blocks where false`.execute(db);
      await within('a change is heard', () => drops.includes('ip_blocks'));
      assert.deepEqual(drops, ['ip_blocks'], 'only the subscribers of that table');

      drops.length = 0;
      assert.equal(await terminateListeners(db), 1);
      await within('the feed knows it is down', () => !feed.live, 500);
      const back = await within('the feed is back', () => feed.live, 2_000);
      t.diagnostic(`reconnected in ${back.toFixed(0)} ms`);
      assert.deepEqual(drops.sort(), ['ip_blocks', 'signing_keys'], 'every cache dropped on reconnection');

      drops.length = 0;
      await sql`delete from signing_keys where false`.execute(db);
      await within('a change is heard on the new connection', () => drops.includes('signing_keys'));
    } finally {
      await feed.close();
    }
    assert.equal(feed.live, false);
  });

  it('two nodes: while the feed is down their caches read through, and a grant made then is honoured after', async (t) => {
    const config = testConfig();
    const a: Node = await node(config, db);
    const b: Node = await node(config, db);
    try {
      const admin = await a.adminToken();
      const api = (await a.request('POST', '/api/v1/apis', { token: admin, body: { identifier: 'https://lost.example', name: 'RS' } }))
        .body;
      const app = (await a.request('POST', '/api/v1/applications', { token: admin, body: { name: 'Lost', type: 'm2m' } })).body;
      const ask = () =>
        postToken(b as never, {
          grant_type: 'client_credentials',
          audience: 'https://lost.example',
          client_id: app.client_id,
          client_secret: app.client_secret,
        });
      assert.equal((await ask()).statusCode, 400, 'B holds "no grant"');

      // The listeners are ended and cannot come back until the database takes connections again:
      // the grant's notification, sent at its commit, is missed by both nodes.
      const name = (await sql<{ name: string }>`select current_database() as name`.execute(db)).rows[0]!.name;
      const server = await openDatabase({ url: postgresUrl() });
      await sql.raw(`alter database ${name} allow_connections false`).execute(server);
      try {
        const { rows } = await sql<{ ok: boolean }>`
          select pg_terminate_backend(pid, 5000) as ok from pg_stat_activity
          where application_name = 'gatehouse-changes' and datname = current_database()`.execute(db);
        assert.equal(rows.length, 2, "both nodes' listeners");
        await within('B knows its feed is down', () => !b.ctx.changes.live, 500);
        await sql`insert into application_grants (application_id, api_id) values (${app.id}, ${api.id})`.execute(db);
        assert.equal((await ask()).statusCode, 200, 'while its feed is down, B reads through its caches');
        assert.equal(b.ctx.changes.live, false, 'still down: the answer came from the database');
        await sql`delete from application_grants where application_id = ${app.id}`.execute(db);
        assert.equal((await ask()).statusCode, 400, 'and kept nothing');
        await sql`insert into application_grants (application_id, api_id) values (${app.id}, ${api.id})`.execute(db);
      } finally {
        await sql.raw(`alter database ${name} allow_connections true`).execute(server);
        await server.destroy();
      }
      const back = await within('both feeds are back', () => a.ctx.changes.live && b.ctx.changes.live, 2_000);
      t.diagnostic(`the feeds were back ${back.toFixed(0)} ms after the database took connections again`);
      assert.equal((await ask()).statusCode, 200, 'B honours the grant made while it was not listening');
    } finally {
      await b.app.close();
      await b.ctx.passwords.close();
      await a.app.close();
      await a.ctx.passwords.close();
    }
  });
});
