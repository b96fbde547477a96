/**
 * Issue 18, part 1: the pieces of cluster coherence on the database the tests run on (PGlite
 * in-process, or PostgreSQL): every table a cache depends on announces its changes, a change
 * is heard at its commit and never for a rollback, and a cache never keeps a read that began
 * before a drop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import {
  announceChange,
  type ChangeFeed,
  type ChangeTopic,
  createChangeFeed,
  WATCHED_TABLES,
} from '../../../src/platform/db/change-feed.js';
import type { Db } from '../../../src/platform/db/database.js';
import { ShortCache } from '../../../src/platform/short-cache.js';
import { freshDatabase } from '../../helpers/database.js';

async function until(what: string, check: () => boolean): Promise<void> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > 1_000) assert.fail(`${what}: not within 1000 ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('the change feed', () => {
  let db: Db;
  let drop: () => Promise<void>;
  let feed: ChangeFeed;
  const heard: string[] = [];

  before(async () => {
    ({ db, drop } = await freshDatabase());
    feed = await createChangeFeed(db, pino({ level: 'silent' }));
    feed.subscribe(['ip_blocks'], () => heard.push('ip_blocks'));
    feed.subscribe(['protection'], () => heard.push('protection'));
  });
  after(async () => {
    await feed.close();
    await drop();
  });

  it('every watched table has its trigger (a table behind a cache cannot be left out by a migration)', async () => {
    const { rows } = await sql<{ table: string }>`
      select c.relname as table from pg_trigger t join pg_class c on c.oid = t.tgrelid
      where t.tgname = c.relname || '_announce_change'`.execute(db);
    assert.deepEqual(rows.map((r) => r.table).sort(), [...WATCHED_TABLES].sort());
  });

  it('is heard at the commit, once per statement, and never for a rolled-back change', async () => {
    assert.equal(feed.live, true);
    heard.length = 0;
    await db
      .transaction()
      .execute(async (trx) => {
        await sql`delete from ip_blocks where false`.execute(trx);
        throw new Error('rolled back');
      })
      .catch(() => {});
    await announceChange(db, 'protection'); // a marker: once it is heard, the rollback would have been too
    await until('the marker', () => heard.includes('protection'));
    assert.deepEqual(heard, ['protection']);

    heard.length = 0;
    await db.transaction().execute(async (trx) => {
      await sql`delete from ip_blocks where false`.execute(trx);
      await sql`delete from ip_blocks where false`.execute(trx);
      await announceChange(trx, 'protection');
    });
    await until('the commit', () => heard.includes('ip_blocks') && heard.includes('protection'));
    assert.deepEqual(heard.sort(), ['ip_blocks', 'protection'], 'the same payload folded within one transaction');
  });

  it('is heard well within one second of the commit (the figure is printed)', async (t) => {
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      heard.length = 0;
      const sent = performance.now();
      await sql`delete from ip_blocks where false`.execute(db);
      await until('heard', () => heard.includes('ip_blocks'));
      delays.push(performance.now() - sent); // the statement, its commit and the notification (polled every 5 ms)
    }
    delays.sort((x, y) => x - y);
    t.diagnostic(`a write sent → heard by the feed: median ${delays[10]!.toFixed(1)} ms, max ${delays[19]!.toFixed(1)} ms (bound 1000 ms)`);
    assert.ok(delays[19]! < 1_000);
  });
});

describe('ShortCache with a change feed', () => {
  /** A feed the test drives: `live` and the drops are in its hands. */
  function fakeFeed() {
    const drops: (() => void)[] = [];
    const feed = {
      live: true,
      subscribe(_topics: readonly ChangeTopic[], drop: () => void) {
        drops.push(drop);
      },
      close: async () => {},
      change: () => {
        for (const d of drops) d();
      },
    };
    return feed;
  }

  it('a read begun before a drop is not served after it (no stale "none")', async () => {
    const feed = fakeFeed();
    const cache = new ShortCache<string | undefined>(60_000, { feed, topics: ['application_grants'] });
    let release!: (value: string | undefined) => void;
    const slow = cache.get('k', () => new Promise((resolve) => (release = resolve)));
    feed.change(); // the grant is created while the read is under way
    const fresh = cache.get('k', async () => 'granted');
    release(undefined); // the earlier read ends with what it saw: no grant
    assert.equal(await slow, undefined);
    assert.equal(await fresh, 'granted');
    assert.equal(await cache.get('k', async () => 'read again'), 'granted', 'the later read is the one kept');
  });

  it('serves nothing while the feed is not live', async () => {
    const feed = fakeFeed();
    const cache = new ShortCache<number>(60_000, { feed, topics: ['ip_blocks'] });
    let reads = 0;
    const load = async () => ++reads;
    assert.equal(await cache.get('k', load), 1);
    assert.equal(await cache.get('k', load), 1);
    feed.live = false;
    assert.equal(await cache.get('k', load), 2);
    assert.equal(await cache.get('k', load), 3);
  });
});
