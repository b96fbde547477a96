import { createReadStream, createWriteStream, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { Actor } from '../../platform/audit/record.js';
import type { Config } from '../../platform/config.js';
import { resolveMasterKey } from '../../platform/crypto/master-key.js';
import { DatabaseInUseError, type Db, openDatabase } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { systemClock, uuidv7 } from '../../platform/ids.js';
import { createLogger } from '../../platform/logger.js';
import { type BackupSummary, backupStream } from './backup.js';
import { checkPassphrase } from './format.js';
import { restoreBackup } from './restore.js';

/** `gatehouse backup FILE` and `gatehouse restore FILE [--force]`. */
export function backupCommands(program: Command, config: () => Config, actor: Actor): void {
  program
    .command('backup')
    .description('Write an encrypted backup of the whole database to FILE (passphrase: --passphrase-file or GATEHOUSE_BACKUP_PASSPHRASE)')
    .argument('<file>', 'the backup file to write')
    .option('--passphrase-file <file>', 'read the passphrase from this file (its first line)')
    .action(async (file: string, options: { passphraseFile?: string }) => {
      const cfg = config();
      const passphrase = checkPassphrase(readPassphrase(options.passphraseFile, cfg));
      const masterKey = resolveMasterKey(cfg, createLogger({ ...cfg, logLevel: 'error' }));
      const db = await open(cfg, 'backup');
      const partial = `${file}.partial`;
      const summary: BackupSummary = { rows: {}, bytes: 0 };
      try {
        const source = { db, masterKey, clock: systemClock, ids: uuidv7 };
        await pipeline(Readable.from(backupStream(source, passphrase, { actor, summary })), createWriteStream(partial, { mode: 0o600 }));
        renameSync(partial, file);
      } catch (error) {
        rmSync(partial, { force: true });
        throw error;
      } finally {
        await db.destroy();
      }
      const rows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
      process.stdout.write(
        `Backed up ${rows} rows of ${Object.keys(summary.rows).length} tables (users: ${summary.rows.users ?? 0}) to ${file} (${summary.bytes} bytes)\n`,
      );
    });

  program
    .command('restore')
    .description('Load a backup into an empty database (PGlite or PostgreSQL); --force replaces a database in use')
    .argument('<file>', 'the backup file to read')
    .option('--passphrase-file <file>', 'read the passphrase from this file (its first line)')
    .option('--force', 'replace the contents of a database that is in use', false)
    .action(async (file: string, options: { passphraseFile?: string; force: boolean }) => {
      const cfg = config();
      const passphrase = readPassphrase(options.passphraseFile, cfg);
      if (!existsSync(file)) throw new AppError('not_a_backup', `No such file: ${file}`);
      const db = await open(cfg, 'restore');
      try {
        const target = { db, config: cfg, clock: systemClock, ids: uuidv7 };
        const restored = await restoreBackup(createReadStream(file), passphrase, target, { actor, force: options.force });
        const rows = Object.values(restored.rows).reduce((a, b) => a + b, 0);
        process.stdout.write(
          `Restored ${rows} rows of ${Object.keys(restored.rows).length} tables (users: ${restored.rows.users ?? 0}) from the backup of ${restored.createdAt}\n`,
        );
        if (restored.masterKeyWritten) process.stdout.write(`Wrote the backup's master key to ${restored.masterKeyWritten}\n`);
      } finally {
        await db.destroy();
      }
    });
}

function readPassphrase(file: string | undefined, cfg: Config): string {
  return passphraseFrom(
    file,
    cfg.backupPassphrase,
    'Give the backup passphrase with --passphrase-file FILE or GATEHOUSE_BACKUP_PASSPHRASE',
  );
}

/** A passphrase from the first line of `file`, else from the configuration (never a command-line argument). */
export function passphraseFrom(file: string | undefined, configured: string | undefined, missing: string): string {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new AppError('weak_passphrase', `Cannot read the passphrase file ${file}: ${(error as NodeJS.ErrnoException).code}`);
    }
    return text.split(/\r?\n/)[0] ?? '';
  }
  if (configured) return configured;
  throw new AppError('weak_passphrase', missing);
}

async function open(cfg: Config, what: string): Promise<Db> {
  try {
    return await openDatabase({ url: cfg.databaseUrl, dataDir: cfg.dataDir });
  } catch (error) {
    if (error instanceof DatabaseInUseError && what === 'backup') {
      throw new DatabaseInUseError(`${error.message} To back up a running server, use POST /api/v1/backup (permission iam.backup.create).`);
    }
    if (error instanceof DatabaseInUseError) throw new DatabaseInUseError(`${error.message} Stop the server before a restore.`);
    throw error;
  }
}
