import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import { rotateKeys } from '../oauth/keys/rotation.js';
import { verifyAuditChains } from '../ops/audit/verify.js';
import { backupCommands } from '../ops/backup/cli.js';
import { userTransferCommands } from '../ops/transfer/cli.js';
import type { Actor } from '../platform/audit/record.js';
import { ConfigError, loadConfig } from '../platform/config.js';
import { DatabaseInUseError, openDatabase } from '../platform/db/database.js';
import { migrateToLatest } from '../platform/db/migrate.js';
import { dependencyFailure } from '../platform/dependency-failure.js';
import { AppError } from '../platform/errors.js';
import { createLogger } from '../platform/logger.js';
import { SIGNING_ALGS, type SigningKeyAlg } from '../platform/ports/signing-keys.js';
import { generatePassword, upsertSystemAdmin } from './bootstrap.js';
import { createGatehouse } from './gatehouse.js';

/**
 * The safety net of a serving node (decision 306): no error a client library throws
 * outside a request ends the process. A dependency's error that escaped every listener (a
 * connection reset in a library's event) and any promise rejection nobody awaited are
 * logged as errors, and the node goes on: the request that met the failure has answered
 * 503, and the next one reconnects. Any other uncaught exception is a defect of ours with
 * unknown state behind it: logged as fatal, and the process exits 1 for its supervisor to
 * restart it.
 */
function guardProcess(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'A promise was rejected and nothing handled it; the node goes on');
  });
  process.on('uncaughtException', (error) => {
    if (dependencyFailure(error)) {
      log.error({ err: error }, 'A dependency failed outside any request; the node goes on and reconnects');
      return;
    }
    log.fatal({ err: error }, 'Uncaught exception: the node stops');
    process.exit(1);
  });
}

/** Who acts when an operator runs a command on the host (audit trail). */
const CLI_ACTOR: Actor = { type: 'system', id: 'cli', ip: null, userAgent: 'gatehouse-cli' };

/** The one `gatehouse` binary (docs/operations.md#the-command-line). */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('gatehouse')
    .description('Gatehouse identity and access management server')
    .option('--config <file>', 'JSON file with configuration keys (environment variables win)');

  const config = () => loadConfig(process.env, program.opts<{ config?: string }>().config);

  program
    .command('start', { isDefault: true })
    .description('Apply migrations and start the server')
    .action(async () => {
      const cfg = config();
      const gatehouse = await createGatehouse(cfg);
      const { app, bootstrapped } = gatehouse;
      guardProcess(app.log);
      const admin = bootstrapped.admin;
      if (admin?.generatedPassword) {
        process.stdout.write(
          [
            '',
            '================================================================',
            ' First start: created the system administrator',
            `   email:    ${admin.email}`,
            `   password: ${admin.generatedPassword}`,
            ' This password is shown once. Change it, or set one with',
            '   gatehouse admin create --email <email>',
            '================================================================',
            '',
          ].join('\n'),
        );
      } else if (admin) {
        app.log.info({ email: admin.email }, 'Created the first system administrator');
      }
      await app.listen({ port: cfg.port, host: cfg.host });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : cfg.port;
      const local = `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
      app.log.info(
        {
          issuer: cfg.issuer,
          api: `${cfg.issuer}/api/v1`,
          openapi: `${cfg.issuer}/api/v1/openapi.json`,
          jwks: `${cfg.issuer}/.well-known/jwks.json`,
          health: `${local}/healthz`,
          database: cfg.databaseUrl ? 'postgresql' : `pglite (${cfg.dataDir})`,
        },
        `Gatehouse listening on ${local}`,
      );
      // SIGTERM (an orchestrator, `kill`, npm) and SIGINT (Ctrl-C) stop the node gracefully
      // (decision 305); a second signal skips what is left of the grace.
      const stop = (signal: string) => {
        app.log.info({ signal }, 'Shutting down');
        gatehouse.shutdown().then(
          () => {
            app.log.info('Stopped');
            process.exit(0);
          },
          (error: unknown) => {
            app.log.error({ err: error }, 'Shutdown failed');
            process.exit(1);
          },
        );
      };
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
      // Under `npm start` (decision 307) the node is npm's child: should npm die without
      // passing a signal on (SIGKILL), the node is handed to another parent and stops too.
      if (process.env.npm_lifecycle_event === 'start') {
        const parent = process.ppid;
        const watch = setInterval(() => {
          if (process.ppid === parent) return;
          clearInterval(watch);
          stop('parent exited');
        }, 500);
        watch.unref();
      }
    });

  program
    .command('migrate')
    .description('Apply pending database migrations and exit')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg);
      const db = await openDatabase({ url: cfg.databaseUrl, dataDir: cfg.dataDir });
      try {
        const applied = await migrateToLatest(db);
        log.info({ applied }, applied.length ? 'Migrations applied' : 'Database is up to date');
      } finally {
        await db.destroy();
      }
    });

  const admin = program.command('admin').description('System administrators');
  admin
    .command('create')
    .description('Create a system administrator, or reset the password of one')
    .requiredOption('--email <email>', 'email address of the administrator')
    .option('--password <password>', 'the password (default: GATEHOUSE_ADMIN_PASSWORD, else a generated one printed once)')
    .action(async (options: { email: string; password?: string }) => {
      const cfg = config();
      const password = options.password ?? cfg.adminPassword ?? generatePassword();
      // On a fresh database the first start's administrator is this one, not a default.
      const gatehouse = await createGatehouse(
        { ...cfg, adminEmail: options.email, adminPassword: password },
        { log: createLogger(cfg), background: false },
      );
      try {
        const created =
          gatehouse.bootstrapped.admin !== undefined || (await upsertSystemAdmin(gatehouse.ctx, options.email, password)).created;
        process.stdout.write(`${created ? 'Created' : 'Reset'} system administrator ${options.email}\n`);
        if (!options.password && !cfg.adminPassword) process.stdout.write(`Password (shown once): ${password}\n`);
      } finally {
        await gatehouse.close();
      }
    });

  const keys = program.command('keys').description('Signing keys');
  keys
    .command('rotate')
    .description('Rotate the signing keys: each next key becomes current, the current one is retired, a new next key is published')
    .addOption(new Option('--alg <alg>', 'rotate only the keys of this algorithm (default: all)').choices(SIGNING_ALGS))
    .option('--retire-now', 'incident response: withdraw the retired keys at once (every token they signed stops verifying)')
    .action(async (options: { alg?: SigningKeyAlg; retireNow?: boolean }) => {
      const cfg = config();
      const gatehouse = await createGatehouse(cfg, { log: createLogger(cfg), background: false });
      try {
        const rotated = await rotateKeys(gatehouse.ctx, CLI_ACTOR, { alg: options.alg, retireNow: options.retireNow });
        for (const r of rotated) {
          process.stdout.write(`Rotated the ${r.alg} keys: current ${r.current}, retired ${r.retired}, next ${r.next}\n`);
        }
        process.stdout.write(
          options.retireNow
            ? 'Other nodes sign with the new keys and stop accepting the withdrawn ones within 30 seconds.\n'
            : 'Other nodes sign with the new keys within 30 seconds; retired keys stay published until their tokens expire.\n',
        );
      } finally {
        await gatehouse.close();
      }
    });

  backupCommands(program, config, CLI_ACTOR);
  userTransferCommands(program, config, CLI_ACTOR, (cfg) =>
    createGatehouse(cfg, { log: createLogger({ ...cfg, logLevel: 'warn' }), background: false }),
  );
  const audit = program.command('audit').description('The audit trail');
  audit
    .command('verify')
    .description('Check every tenant’s hash chain; exit 0 when it holds, 1 with the first break')
    .action(async () => {
      const cfg = config();
      const gatehouse = await createGatehouse(cfg, { log: createLogger({ ...cfg, logLevel: 'warn' }), background: false });
      try {
        const result = await verifyAuditChains(gatehouse.ctx);
        const summary = `${result.events} events in ${result.chains} chains`;
        if (result.ok) {
          process.stdout.write(`Audit trail OK: ${summary}${result.unsealed ? ` (${result.unsealed} not chained yet)` : ''}\n`);
        } else {
          const b = result.first_break!;
          process.stdout.write(
            `Audit trail BROKEN after ${summary}: ${b.kind} in the chain of tenant ${b.tenant_id ?? '(none)'} at seq ${b.seq ?? '?'}, event ${b.event_id ?? '?'}\n${b.message}\n`,
          );
          process.exitCode = 1;
        }
      } finally {
        await gatehouse.close();
      }
    });

  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof AppError || error instanceof DatabaseInUseError) {
      process.stderr.write(`gatehouse: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
