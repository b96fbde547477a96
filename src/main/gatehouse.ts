import type { Logger } from 'pino';
import { forgetDiscoveries } from '../authn/federation/oidc.js';
import { forgetIdpMetadata } from '../authn/federation/saml-idp.js';
import { hasSecondFactor } from '../authn/mfa/sign-in-step.js';
import { forgetRefusals } from '../authn/protection/guard.js';
import { createProtectionStore } from '../authn/protection/store.js';
import { sessionFromToken } from '../authn/sessions/sessions.js';
import { userAccess } from '../oauth/access/end-access.js';
import { assertMasterKeyOpensKeys } from '../oauth/keys/master-key-check.js';
import { createKeyStore } from '../oauth/keys/signing-keys.js';
import { callerFromAccessToken } from '../oauth/tokens/callers.js';
import { createActionsEngine } from '../ops/actions/runner.js';
import { createDelivery, type Delivery } from '../ops/events/worker.js';
import type { Config } from '../platform/config.js';
import type { AppContext } from '../platform/context.js';
import { resolveMasterKey } from '../platform/crypto/master-key.js';
import { createPasswordHasher } from '../platform/crypto/passwords.js';
import { createChangeFeed } from '../platform/db/change-feed.js';
import { type Db, openDatabase } from '../platform/db/database.js';
import { migrateToLatest } from '../platform/db/migrate.js';
import type { Readiness } from '../platform/http/health.js';
import type { App } from '../platform/http/server.js';
import { type Clock, systemClock, uuidv7 } from '../platform/ids.js';
import { createLogger } from '../platform/logger.js';
import { createSmtpMailer } from '../platform/mail/smtp.js';
import { type BootstrapResult, bootstrap } from './bootstrap.js';
import { startBackground } from './jobs.js';
import { createServer } from './routes.js';

export interface Gatehouse {
  ctx: AppContext;
  app: App;
  bootstrapped: BootstrapResult;
  /** This node's event delivery worker (outbox → RabbitMQ, webhooks). */
  delivery: Delivery;
  close(): Promise<void>;
  /**
   * Stops a serving node the way a load balancer needs (decision 305): unready at once
   * (/readyz 503), still serving for the configured grace when something watches /readyz,
   * then no new connection, the requests in flight finished (at most `drainMs`), closed.
   * Called again while it runs, it skips what is left of the grace.
   */
  shutdown(options?: { drainMs?: number }): Promise<void>;
}

/** The longest a stopping node waits for its requests in flight before it cuts their connections. */
export const DRAIN_MS = 10_000;
/** /readyz asked within this (or the grace, if longer) means a balancer or orchestrator watches the node. */
const WATCHED_WITHIN_MS = 10_000;

export interface GatehouseOptions {
  log?: Logger;
  /** An already opened database (tests hand in a cloned template). */
  db?: Db;
  /** The clock every part reads (tests move time with it). */
  clock?: Clock;
  /**
   * Run the background loops of event delivery, audit sealing and retention (default true).
   * Tests switch them off and run each pass themselves, so nothing changes under them.
   * Email is always sent (it only ever touches the email queue).
   */
  background?: boolean;
}

/** Opens the database, applies migrations, seeds the first start, and builds the server. */
export async function createGatehouse(config: Config, options: GatehouseOptions = {}): Promise<Gatehouse> {
  const log = options.log ?? createLogger(config);
  const ctx = await createContext(config, log, options.db, options.clock);
  try {
    await migrateToLatest(ctx.db);
    // Before anything is written or served: a wrong master key stops the start here (decision 304).
    await assertMasterKeyOpensKeys(ctx.db, ctx.masterKey, config);
    const bootstrapped = await bootstrap(ctx);
    const readiness: Readiness = { draining: false };
    const app = await createServer(ctx, readiness);
    const delivery = createDelivery(ctx);
    const jobs = startBackground(ctx, { background: options.background !== false, delivery });
    // Closing the server stops the jobs, before anyone closes the database under them.
    app.addHook('onClose', () => jobs.stop());
    // The actions' sandbox worker ends with the server.
    app.addHook('onClose', () => ctx.actions.close());
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        await app.close();
        await ctx.db.destroy();
        await ctx.passwords.close();
      })();
      return closing;
    };
    let stopping: Promise<void> | undefined;
    let endGrace = () => {};
    return {
      ctx,
      app,
      bootstrapped,
      delivery,
      close,
      shutdown({ drainMs = DRAIN_MS } = {}) {
        if (stopping) {
          endGrace();
          return stopping;
        }
        readiness.draining = true;
        const graceMs = config.shutdownGraceSeconds * 1000;
        const watched = readiness.checkedAt !== undefined && Date.now() - readiness.checkedAt <= Math.max(WATCHED_WITHIN_MS, graceMs);
        stopping = (async () => {
          if (watched && graceMs > 0) {
            log.info({ grace_ms: graceMs }, 'Unready; serving on while the load balancer takes this node out');
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, graceMs);
              endGrace = () => {
                clearTimeout(timer);
                resolve();
              };
            });
          }
          // No new connection from here; requests in flight finish, or are cut after drainMs. A
          // kept-alive connection is closed as soon as its answer is out (Node closes only those
          // idle when the server closes, and Fastify keeps them 72 s).
          const idle = setInterval(() => app.server.closeIdleConnections(), 50);
          const cut = setTimeout(() => {
            log.warn({ drain_ms: drainMs }, 'Requests still in flight after the drain time: closing their connections');
            app.server.closeAllConnections();
          }, drainMs);
          try {
            await close();
          } finally {
            clearInterval(idle);
            clearTimeout(cut);
          }
        })();
        return stopping;
      },
    };
  } catch (error) {
    await ctx.protection.store.close();
    await ctx.changes.close();
    await ctx.db.destroy();
    await ctx.passwords.close();
    throw error;
  }
}

/**
 * The composition root of a node's services: each port of the context (src/platform/ports/)
 * is built here, once, from its layer's implementation. The server's shutdown closes the
 * protection store and the change feed (src/main/routes.ts); whoever made the context
 * without a server closes the change feed, and always the database and the password hasher.
 */
export async function createContext(config: Config, log: Logger, db?: Db, clock: Clock = systemClock): Promise<AppContext> {
  const masterKey = resolveMasterKey(config, log);
  const database = db ?? (await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, log }));
  const changes = await createChangeFeed(database, log);
  const ctx: AppContext = {
    config,
    db: database,
    changes,
    clock,
    ids: uuidv7,
    passwords: await createPasswordHasher(),
    masterKey,
    log,
    keys: createKeyStore(database, masterKey, clock, changes),
    protection: { store: createProtectionStore(config, database, log), refusals: new Map(), refusalsDropped: 0 },
    mailer: createSmtpMailer(config),
    authenticator: {
      session: (token) => sessionFromToken(ctx, token),
      hasSecondFactor: (userId) => hasSecondFactor(ctx, userId),
      caller: (token) => callerFromAccessToken(ctx, token),
    },
    access: userAccess,
    // Set just below: the engine reads the context it is part of.
    actions: undefined as unknown as AppContext['actions'],
  };
  ctx.actions = createActionsEngine(ctx);
  // The caches that no module of their own builds per node (docs/architecture.md#nodes-and-caches).
  changes.subscribe(['protection', 'tenants'], () => forgetRefusals(ctx));
  changes.subscribe(['connections'], () => {
    forgetDiscoveries();
    forgetIdpMetadata();
  });
  return ctx;
}
