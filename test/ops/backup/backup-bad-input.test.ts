import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { backupStream } from '../../../src/ops/backup/backup.js';
import { listTables } from '../../../src/ops/backup/catalog.js';
import { BackupEncryptor, CHUNK_SIZE } from '../../../src/ops/backup/format.js';
import { type RestoreTarget, restoreBackup } from '../../../src/ops/backup/restore.js';
import { SYSTEM_ACTOR } from '../../../src/platform/audit/record.js';
import type { Db } from '../../../src/platform/db/database.js';
import { MIGRATION_NAMES } from '../../../src/platform/db/migrate.js';
import { AppError } from '../../../src/platform/errors.js';
import { systemClock, uuidv7 } from '../../../src/platform/ids.js';
import {
  assertSameData,
  bytes,
  collect,
  type Node,
  node,
  PASSPHRASE,
  populate,
  rowCounts,
  tableTexts,
  testConfig,
} from '../../helpers/backup.js';
import { freshDatabase } from '../../helpers/database.js';

/**
 * Bad backups and refused targets (issue 6): a truncated, altered or foreign file, a wrong
 * passphrase, another schema version, rows the database refuses, a target in use or with
 * another master key. Each is a clear error with a stable code, and the target is left as
 * it was: nothing half-restored.
 */
describe('restoring bad input', { timeout: 180_000 }, () => {
  let source: Node;
  let snapshot: Record<string, string[]>;
  let backup: Buffer;
  let target: RestoreTarget;
  const drops: Array<() => Promise<void>> = [];

  const fresh = async (): Promise<Db> => {
    const { db, drop } = await freshDatabase();
    drops.push(drop);
    return db;
  };

  /** Restores `file` into `into` (default: the empty target), expecting the error `code`. */
  async function refused(
    file: Buffer | AsyncIterable<Buffer>,
    code: string,
    into = target,
    options: { force?: boolean; passphrase?: string } = {},
  ) {
    const before = await tableTexts(into.db);
    await assert.rejects(
      restoreBackup(Buffer.isBuffer(file) ? bytes(file) : file, options.passphrase ?? PASSPHRASE, into, {
        actor: SYSTEM_ACTOR,
        ...(options.force && { force: true }),
      }),
      (error: unknown) => {
        assert.ok(error instanceof AppError, `an AppError, not ${String(error)}`);
        assert.equal(error.code, code, error.message);
        assert.ok(error.status >= 400 && error.status < 500);
        return true;
      },
    );
    assert.deepEqual(await tableTexts(into.db), before, 'the target is left exactly as it was');
  }

  /** A backup written by hand: the current (or a given) schema version, with the given payload lines. */
  async function crafted(lines: unknown[], schema = MIGRATION_NAMES): Promise<Buffer> {
    const encryptor = await BackupEncryptor.create(PASSPHRASE, { schema, created_at: new Date().toISOString() });
    const parts = [encryptor.preamble, ...encryptor.push(lines.map((line) => `${JSON.stringify(line)}\n`).join('')), encryptor.finish()];
    return Buffer.concat(parts);
  }
  const manifest = async () => ({
    type: 'manifest',
    schema: MIGRATION_NAMES,
    created_at: new Date().toISOString(),
    master_key: source.ctx.masterKey.toString('base64'),
    tables: await listTables(source.ctx.db),
    sequences: [],
  });

  before(async () => {
    source = await node(testConfig(), await fresh());
    await populate(source);
    snapshot = await tableTexts(source.ctx.db);
    backup = await collect(backupStream(source.ctx, PASSPHRASE, { actor: SYSTEM_ACTOR }));
    assert.ok(backup.length > 2 * CHUNK_SIZE, 'the backup spans several chunks');
    target = { db: await fresh(), config: testConfig({ masterKey: source.ctx.masterKey }), clock: systemClock, ids: uuidv7 };
  });
  after(async () => {
    await source.app.close();
    await source.ctx.passwords.close();
    for (const drop of drops) await drop();
  });

  it('a file that is not a backup: not_a_backup', async () => {
    await refused(randomBytes(5000), 'not_a_backup');
    await refused(Buffer.alloc(0), 'not_a_backup');
    await refused(Buffer.from('{"users": []}\n'), 'not_a_backup');
  });

  it('a wrong passphrase: wrong_passphrase, before any row is read', async () => {
    await refused(backup, 'wrong_passphrase', target, { passphrase: `${PASSPHRASE}!` });
  });

  it('a truncated file: backup_truncated, wherever it is cut, and nothing is restored', async () => {
    const headerEnd = 8 + 1 + 4 + backup.readUInt32BE(9) + 16;
    const firstChunkEnd = headerEnd + 4 + backup.readUInt32BE(headerEnd) + 16;
    const secondChunkEnd = firstChunkEnd + 4 + backup.readUInt32BE(firstChunkEnd) + 16;
    for (const cut of [10, headerEnd - 1, headerEnd, firstChunkEnd, secondChunkEnd, secondChunkEnd + 3, backup.length - 1]) {
      await refused(backup.subarray(0, cut), 'backup_truncated');
    }
  });

  it('a byte altered after the header: backup_corrupt (or truncated, when a length was hit), and nothing is restored', async () => {
    const headerEnd = 8 + 1 + 4 + backup.readUInt32BE(9) + 16;
    for (const position of [headerEnd + 100, headerEnd + CHUNK_SIZE + 30, Math.floor(backup.length / 2), backup.length - 1]) {
      const altered = Buffer.from(backup);
      altered[position]! ^= 0x01;
      await refused(altered, 'backup_corrupt');
    }
    const longer = Buffer.from(backup);
    longer[headerEnd]! ^= 0x40; // the first chunk's length field
    await refused(longer, 'backup_corrupt');
    await refused(Buffer.concat([backup, Buffer.from([0])]), 'backup_corrupt');
  });

  it('an altered header: refused (its tag covers it) without reading on', async () => {
    const altered = Buffer.from(backup);
    const at = altered.indexOf('"created_at":"') + 16;
    altered[at] = altered[at] === 0x31 ? 0x32 : 0x31;
    await refused(altered, 'wrong_passphrase');
  });

  it('a backup of another schema version: backup_schema_mismatch', async () => {
    const older = await crafted([await manifest()], MIGRATION_NAMES.slice(0, 1));
    await refused(older, 'backup_schema_mismatch');
    const newer = await crafted([await manifest()], [...MIGRATION_NAMES, '9999_future']);
    await refused(newer, 'backup_schema_mismatch');
  });

  it('rows the database refuses: backup_rejected, and a forced restore leaves the target as it was', async () => {
    const m = await manifest();
    const first = m.tables[0]!;
    const bad = await crafted([
      m,
      { type: 'table', name: first.name },
      first.columns.map(() => 'not a value'),
      { type: 'end_table', name: first.name, rows: 1 },
    ]);
    await refused(bad, 'backup_rejected');
    await refused(bad, 'backup_rejected', { ...target, db: source.ctx.db }, { force: true });
    const noEnd = await crafted([m, { type: 'table', name: first.name }, { type: 'end_table', name: first.name, rows: 0 }]);
    await refused(noEnd, 'backup_corrupt');
  });

  it('a target with another configured master key: master_key_mismatch', async () => {
    await refused(backup, 'master_key_mismatch', { ...target, config: testConfig() });
  });

  it('a database in use is refused without --force; with it, its contents are replaced, not merged', async () => {
    const used = await node(testConfig({ masterKey: source.ctx.masterKey }), await fresh());
    try {
      const admin = await used.adminToken();
      assert.equal((await used.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'other', name: 'Other' } })).status, 201);
      const into = { ...target, db: used.ctx.db };
      await refused(backup, 'database_not_empty', into);
      await restoreBackup(bytes(backup), PASSPHRASE, into, { actor: SYSTEM_ACTOR, force: true });
      const texts = await tableTexts(used.ctx.db);
      assertSameData(texts, snapshot);
      assert.equal(
        texts.tenants!.some((row) => row.includes('other')),
        false,
      );
    } finally {
      await used.app.close();
      await used.ctx.passwords.close();
    }
  });

  it('after all that, the empty target takes the backup whole', async () => {
    assert.deepEqual(
      Object.values(await rowCounts(target.db)).filter((n) => n > 0),
      [],
    );
    await restoreBackup(bytes(backup), PASSPHRASE, target, { actor: SYSTEM_ACTOR });
    assertSameData(await tableTexts(target.db), snapshot);
  });
});
