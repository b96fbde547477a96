import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { type Db, notificationSource } from './database.js';

/**
 * Cluster coherence (docs/architecture.md#nodes-and-caches): every per-node cache is dropped
 * on every node as soon as the change behind it commits. The tables that back a cache carry
 * a statement-level trigger (migration 0026) that runs `pg_notify(CHANGES_CHANNEL, <table>)`,
 * so no write path (the API, the CLI, a restore, plain SQL) can forget to tell the others;
 * PostgreSQL delivers a NOTIFY at commit, never for a rolled-back transaction. A change with
 * no table of its own (the end of a lockout kept in Redis) is announced by `announceChange`.
 *
 * Each node hears them through one `ChangeFeed`: on PostgreSQL a dedicated connection doing
 * LISTEN, reconnected with backoff; on PGlite, in-process, the database's own notifications.
 * While the feed is not connected (before the first connection, after a lost one) it is not
 * `live`, and caches read through rather than serve (decision 293); every (re)connection
 * drops every cache, since a notification may have been missed meanwhile.
 */
export const CHANGES_CHANNEL = 'gatehouse_changes';

/**
 * What a change names: a watched table (its trigger's payload), or a change without a table.
 * A new cache names here what it depends on; a new table behind a cache (the actions of a
 * later issue) gets its trigger in a migration (as 0026_change_feed.ts does) and its name here.
 */
export const WATCHED_TABLES = [
  'tenants',
  'applications',
  'apis',
  'api_permissions',
  'application_grants',
  'application_grant_permissions',
  'oauth_grant_organizations',
  'signing_keys',
  'ip_blocks',
  'connections',
  'actions',
  'action_versions',
  'trigger_bindings',
] as const;
export type ChangeTopic = (typeof WATCHED_TABLES)[number] | 'protection';

export interface ChangeFeed {
  /** Whether changes are heard now; while false, nothing cached may be served. */
  readonly live: boolean;
  /**
   * Calls `drop` after a committed change to any of `topics` on any node, and after every
   * (re)connection of the feed. `drop` must be cheap and must not throw.
   */
  subscribe(topics: readonly ChangeTopic[], drop: () => void): void;
  close(): Promise<void>;
}

/** Announces a change that no watched table records; inside a transaction, it is heard at commit. */
export async function announceChange(db: Db, topic: ChangeTopic): Promise<void> {
  await sql`select pg_notify(${CHANGES_CHANNEL}, ${topic})`.execute(db);
}

/** Reconnection backoff of the PostgreSQL listener: doubling from the first to the last, with jitter. */
const BACKOFF_MS = { first: 100, max: 5_000 };
/** The listener's connection is checked this often, so a silently dead one is replaced. */
const HEARTBEAT_MS = 10_000;

/** The subscribers of one node, and what every (re)connection does to them. */
class Subscribers {
  private readonly byTopic = new Map<ChangeTopic, Set<() => void>>();
  private readonly all = new Set<() => void>();

  constructor(private readonly log: Logger) {}

  add(topics: readonly ChangeTopic[], drop: () => void): void {
    this.all.add(drop);
    for (const topic of topics) {
      const set = this.byTopic.get(topic) ?? new Set();
      set.add(drop);
      this.byTopic.set(topic, set);
    }
  }

  changed(payload: string): void {
    const drops = this.byTopic.get(payload as ChangeTopic);
    if (drops) for (const drop of drops) this.run(drop);
  }

  dropAll(): void {
    for (const drop of this.all) this.run(drop);
  }

  clear(): void {
    this.byTopic.clear();
    this.all.clear();
  }

  private run(drop: () => void): void {
    try {
      drop();
    } catch (error) {
      this.log.error({ err: error }, 'A cache failed to drop its contents');
    }
  }
}

/** The node's feed of changes, for the database it was opened on (src/platform/db/database.ts). */
export async function createChangeFeed(db: Db, log: Logger): Promise<ChangeFeed> {
  const source = notificationSource(db);
  if (source?.kind === 'pglite') return pgliteFeed(db, source.pglite, log);
  if (source?.kind === 'postgres') return postgresFeed(source.url, log);
  log.warn('This database was not opened by openDatabase: no change feed, so every per-node cache reads through');
  return { live: false, subscribe() {}, close: async () => {} };
}

/**
 * PGlite is one process's database: every node on it (tests run two) hears its notifications
 * in-process, at the commit. LISTEN goes through Kysely, so it never lands inside another
 * connection's open transaction (PGlite has one session).
 */
async function pgliteFeed(db: Db, pglite: PGlite, log: Logger): Promise<ChangeFeed> {
  const subscribers = new Subscribers(log);
  await sql.raw(`listen ${CHANGES_CHANNEL}`).execute(db);
  const stop = pglite.onNotification((channel, payload) => {
    if (channel === CHANGES_CHANNEL) subscribers.changed(payload);
  });
  let live = true;
  return {
    get live() {
      return live;
    },
    subscribe: (topics, drop) => subscribers.add(topics, drop),
    async close() {
      live = false;
      stop();
      subscribers.clear();
    },
  };
}

/**
 * A dedicated PostgreSQL connection doing LISTEN (a pooled one would lose it when returned).
 * A lost connection (a restart, `pg_terminate_backend`, a network cut the heartbeat finds)
 * makes the feed not live at once, and is replaced with backoff; each new connection drops
 * every cache before the feed is live again.
 */
async function postgresFeed(url: string, log: Logger): Promise<ChangeFeed> {
  const { default: pg } = await import('pg');
  const subscribers = new Subscribers(log);
  let client: InstanceType<typeof pg.Client> | undefined;
  let live = false;
  let closed = false;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const lost = (which: InstanceType<typeof pg.Client>, error?: unknown) => {
    if (client !== which) return; // already replaced
    client = undefined;
    live = false;
    clearInterval(heartbeat);
    which.end().catch(() => {});
    if (closed) return;
    log.warn({ err: error }, 'The change feed lost its database connection; caches read through until it is back');
    schedule();
  };

  const schedule = () => {
    const delay = Math.min(BACKOFF_MS.max, BACKOFF_MS.first * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt++;
    retry = setTimeout(() => void connect(), delay);
    retry.unref();
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const next = new pg.Client({
      connectionString: url,
      application_name: 'gatehouse-changes',
      keepAlive: true,
      keepAliveInitialDelayMillis: HEARTBEAT_MS,
      // The heartbeat's query fails rather than waits on a connection that went silent.
      query_timeout: HEARTBEAT_MS / 2,
      connectionTimeoutMillis: HEARTBEAT_MS / 2,
    });
    // Errors of an established connection arrive here (never unhandled: they would end the process).
    next.on('error', (error) => lost(next, error));
    next.on('end', () => lost(next));
    next.on('notification', (message) => {
      if (message.channel === CHANGES_CHANNEL && message.payload) subscribers.changed(message.payload);
    });
    try {
      await next.connect();
      await next.query(`listen ${CHANGES_CHANNEL}`);
    } catch (error) {
      next.end().catch(() => {});
      if (closed) return;
      if (attempt === 0) log.warn({ err: error }, 'The change feed cannot reach the database; caches read through until it can');
      schedule();
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    const reconnected = attempt > 0;
    client = next;
    attempt = 0;
    // Whatever was changed while no one listened is unknown: forget everything, then serve again.
    subscribers.dropAll();
    live = true;
    if (reconnected) log.info('The change feed is connected again; every cache was dropped');
    heartbeat = setInterval(() => {
      next.query('select 1').catch((error) => lost(next, error));
    }, HEARTBEAT_MS);
    heartbeat.unref();
  }

  await connect();
  return {
    get live() {
      return live;
    },
    subscribe: (topics, drop) => subscribers.add(topics, drop),
    async close() {
      closed = true;
      live = false;
      clearTimeout(retry);
      clearInterval(heartbeat);
      subscribers.clear();
      const open = client;
      client = undefined;
      await open?.end().catch(() => {});
    },
  };
}
