import { createReadStream, existsSync, lstatSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import type { Scope } from '../../directory/permissions/effective.js';
import type { Actor } from '../../platform/audit/record.js';
import type { Config } from '../../platform/config.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { passphraseFrom } from '../backup/cli.js';
import { exportUsers } from './export.js';
import { type ImportFormat, importUsers } from './import.js';
import { textLines, utf8Text } from './lines.js';

/** The operator on the host acts system-wide. */
const HOST_SCOPE: Scope = { kind: 'system', held: new Set(['all']) };
const MISSING = 'Give the export passphrase with --passphrase-file FILE or GATEHOUSE_EXPORT_PASSPHRASE';

/**
 * Opens the configured Gatehouse for one command, quietly and without its background loops:
 * src/main/cli.ts hands it in (nothing imports main/, docs/architecture.md#layers).
 */
export type OpenGatehouse = (config: Config) => Promise<{ ctx: AppContext; close(): Promise<void> }>;

/** `gatehouse users import FILE` and `gatehouse users export FILE`, against the configured database. */
export function userTransferCommands(program: Command, config: () => Config, actor: Actor, openGatehouse: OpenGatehouse): void {
  const users = program.command('users').description('Move users in and out (docs/operations.md)');
  users
    .command('import')
    .description('Import users from JSON lines (Auth0 bulk import format, or a Gatehouse export) or CSV (Cognito columns)')
    .argument('<file>', 'the file to read')
    .addOption(new Option('--format <format>', 'file format (default: csv for *.csv, else jsonl)').choices(['jsonl', 'csv']))
    .option('--tenant <tenant>', 'CSV: the tenant (slug or id) every row joins')
    .option('--passphrase-file <file>', 'a Gatehouse export: read its passphrase from this file (or GATEHOUSE_EXPORT_PASSPHRASE)')
    .action(async (file: string, options: { format?: ImportFormat; tenant?: string; passphraseFile?: string }) => {
      const cfg = config();
      if (!existsSync(file)) throw new AppError('invalid_import_file', `No such file: ${file}`);
      // First pass: the whole file must be UTF-8 before anything is written.
      for await (const _ of utf8Text(createReadStream(file))) {
        // decoding is the check
      }
      const passphrase =
        options.passphraseFile || cfg.exportPassphrase ? passphraseFrom(options.passphraseFile, cfg.exportPassphrase, MISSING) : undefined;
      const gatehouse = await openGatehouse(cfg);
      try {
        const report = await importUsers(gatehouse.ctx, HOST_SCOPE, actor, textLines(utf8Text(createReadStream(file))), {
          format: options.format ?? (file.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl'),
          tenant: options.tenant,
          passphrase,
        });
        for (const e of report.errors) process.stdout.write(`line ${e.line}: ${e.error}: ${e.message}${e.email ? ` (${e.email})` : ''}\n`);
        for (const w of report.warnings) process.stdout.write(`line ${w.line}: warning: ${w.warning}: ${w.message}\n`);
        const { tenants, permissions, roles } = report.definitions.created;
        if (tenants + permissions + roles > 0) {
          process.stdout.write(`Created ${tenants} tenants, ${permissions} permissions and ${roles} roles\n`);
        }
        process.stdout.write(
          `Imported ${report.created} new and ${report.updated} existing users from ${file}; ${report.failed} records failed\n`,
        );
        if (report.failed > 0) process.exitCode = 1;
      } finally {
        await gatehouse.close();
      }
    });

  users
    .command('export')
    .description('Export every user as JSON lines, secrets encrypted with a passphrase (--passphrase-file or GATEHOUSE_EXPORT_PASSPHRASE)')
    .argument('<file>', 'the file to write')
    .option('--passphrase-file <file>', 'read the passphrase from this file (its first line)')
    .action(async (file: string, options: { passphraseFile?: string }) => {
      const cfg = config();
      const passphrase = passphraseFrom(options.passphraseFile, cfg.exportPassphrase, MISSING);
      const partial = `${file}.partial`;
      removeStalePartial(partial);
      // 'wx': created here, never an existing file or a symlink's target; 0600 whatever the umask did.
      const handle = await open(partial, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
        throw new AppError('export_file_exists', `Cannot create ${partial}: ${error.code ?? error.message}`);
      });
      let lines = 0;
      let gatehouse: Awaited<ReturnType<OpenGatehouse>> | undefined;
      try {
        await handle.chmod(0o600);
        gatehouse = await openGatehouse(cfg);
        const ctx = gatehouse.ctx;
        const counted = async function* () {
          for await (const chunk of exportUsers(ctx, HOST_SCOPE, passphrase, actor)) {
            lines += chunk.split('\n').length - 1;
            yield chunk;
          }
        };
        await pipeline(Readable.from(counted()), handle.createWriteStream());
        renameSync(partial, file);
      } catch (error) {
        await handle.close().catch(() => undefined);
        rmSync(partial, { force: true });
        throw error;
      } finally {
        await gatehouse?.close();
      }
      process.stdout.write(`Exported ${Math.max(lines - 1, 0)} users to ${file}\n`);
    });
}

/**
 * A `.partial` left by an export that was killed is removed if it is a regular file of
 * ours; anything else there (a symlink, another user's file, a directory) stops the export.
 */
function removeStalePartial(partial: string): void {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(partial);
  } catch {
    return; // none
  }
  if (!stat.isFile() || stat.nlink !== 1 || (process.getuid && stat.uid !== process.getuid())) {
    throw new AppError('export_file_exists', `${partial} exists and is not a regular file of this user: remove it, or export elsewhere`);
  }
  rmSync(partial);
}
