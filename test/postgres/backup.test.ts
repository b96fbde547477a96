import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { type BackupSummary, backupStream } from '../../src/ops/backup/backup.js';
import { restoreBackup } from '../../src/ops/backup/restore.js';
import { SYSTEM_ACTOR } from '../../src/platform/audit/record.js';
import { openDatabase } from '../../src/platform/db/database.js';
import { systemClock, uuidv7 } from '../../src/platform/ids.js';
import {
  assertDeploymentWorks,
  assertSameData,
  bytes,
  collect,
  type Fixture,
  type Node,
  node,
  PASSPHRASE,
  populate,
  postgresUrl,
  tableTexts,
  testConfig,
} from '../helpers/backup.js';
import { emptyPostgresDatabase } from '../helpers/database.js';
import { PASSWORD } from '../helpers/gatehouse.js';

/**
 * Issue 6, backup and restore: a backup of the embedded database restores into PostgreSQL
 * (and the other way), every user signs in there with their password, and tokens signed
 * before still verify. Both round trips take the backup while the server writes.
 */
const STEP = { timeout: 180_000 };
const hasUser = (texts: Record<string, string[]>, email: string) => texts.users!.some((row) => row.includes(email));

describe('the embedded database (PGlite) → PostgreSQL', STEP, () => {
  let source: Node;
  let fixture: Fixture;
  let admin: string;
  let snapshot: Record<string, string[]>;
  let backup: Buffer;

  before(async () => {
    source = await node(testConfig(), await openDatabase({}));
    fixture = await populate(source);
    admin = await source.adminToken();
    await new Promise((resolve) => setTimeout(resolve, 100));
    snapshot = await tableTexts(source.ctx.db);
  });
  after(() => source.close());

  it('the running server streams the backup (POST /api/v1/backup) and keeps serving meanwhile', STEP, async () => {
    await source.app.listen({ port: 0, host: '127.0.0.1' });
    const address = source.app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/backup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: PASSPHRASE }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
    assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="gatehouse-.*\.ghbackup"$/);
    // The headers came after the snapshot was taken: this write is served, and is not in the backup.
    const during = source.request('POST', '/api/v1/users', { token: admin, body: { email: 'during@acme.test', password: PASSWORD } });
    backup = Buffer.from(await response.arrayBuffer());
    assert.equal((await during).status, 201);
    assert.ok(backup.length > 100_000, `a backup of ${backup.length} bytes spans several chunks`);
    const events = await source.ctx.db.selectFrom('audit_events').selectAll().where('action', '=', 'iam.backup.created').execute();
    assert.equal(events.length, 1);
    assert.equal(events[0]!.actor_id, decodeJwt(admin).sub);
    assert.equal(JSON.stringify(events[0]!.details).includes(PASSPHRASE), false, 'the passphrase is in no audit record');
    const started = await source.ctx.db.selectFrom('audit_events').selectAll().where('action', '=', 'iam.backup.started').execute();
    assert.equal(started.length, 1, 'the start is recorded before the first byte, whether or not the download ends');
    assert.ok(started[0]!.id < events[0]!.id);
  });

  it('needs the restricted permission iam.backup.create and a passphrase of at least 12 characters', async () => {
    const short = await source.request('POST', '/api/v1/backup', { token: admin, body: { passphrase: 'too-short' } });
    assert.equal(short.status, 400);
    assert.equal(short.body.error, 'invalid_field');
    assert.equal((await source.request('POST', '/api/v1/backup', { body: { passphrase: PASSPHRASE } })).status, 401);
    const member = fixture.users[0]!;
    const session = await source.signIn(member.email, member.password);
    const token = (await source.request('POST', '/api/v1/token', { token: session.token!, body: { organization: 'acme' } })).body.token;
    const denied = await source.request('POST', '/api/v1/backup', { token, body: { passphrase: PASSPHRASE } });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error, 'forbidden');
  });

  it('restores into an empty PostgreSQL database: the same rows, value for value, and every user signs in there', STEP, async () => {
    const pg = await emptyPostgresDatabase(postgresUrl());
    const db = await openDatabase({ url: pg.url });
    try {
      const config = testConfig({ masterKey: source.ctx.masterKey });
      const restored = await restoreBackup(
        bytes(backup),
        PASSPHRASE,
        { db, config, clock: systemClock, ids: uuidv7 },
        { actor: SYSTEM_ACTOR },
      );
      assert.equal(restored.rows.users, fixture.users.length + 1);
      assert.equal(restored.masterKeyWritten, undefined, 'a configured master key is used, not written');
      const texts = await tableTexts(db);
      assertSameData(texts, snapshot);
      assert.equal(hasUser(texts, 'during@acme.test'), false);
      const target = await node(config, db);
      try {
        await assertDeploymentWorks(target, fixture);
      } finally {
        await target.close();
      }
    } finally {
      await pg.drop();
    }
  });
});

describe('PostgreSQL → the embedded database (PGlite)', STEP, () => {
  let source: Node;
  let fixture: Fixture;
  let snapshot: Record<string, string[]>;
  let backup: Buffer;
  let drop: () => Promise<void>;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-restore-'));

  before(async () => {
    const pg = await emptyPostgresDatabase(postgresUrl());
    drop = pg.drop;
    source = await node(testConfig(), await openDatabase({ url: pg.url }));
    fixture = await populate(source);
    snapshot = await tableTexts(source.ctx.db);
  });
  after(async () => {
    await source.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads one snapshot in a repeatable-read transaction while other connections write', STEP, async () => {
    const summary: BackupSummary = { rows: {}, bytes: 0 };
    const stream = backupStream(source.ctx, PASSPHRASE, { actor: SYSTEM_ACTOR, summary });
    const first = await stream.next();
    assert.equal(first.done, false);
    const admin = await source.adminToken();
    const during = await source.request('POST', '/api/v1/users', { token: admin, body: { email: 'during@acme.test', password: PASSWORD } });
    assert.equal(during.status, 201, 'the server writes while the backup is open');
    backup = Buffer.concat([first.value as Buffer, await collect(stream)]);
    assert.equal(summary.bytes, backup.length);
    assert.equal(summary.rows.users, fixture.users.length + 1, 'the user written meanwhile is not in the snapshot');
  });

  it('restores into the data directory of an embedded database, with the master key written beside it', STEP, async () => {
    const config = testConfig({ masterKey: null, dataDir: dir });
    const db = await openDatabase({ dataDir: dir });
    let texts: Record<string, string[]>;
    try {
      const restored = await restoreBackup(
        bytes(backup),
        PASSPHRASE,
        { db, config, clock: systemClock, ids: uuidv7 },
        { actor: SYSTEM_ACTOR },
      );
      assert.equal(restored.masterKeyWritten, join(dir, 'master.key'));
      texts = await tableTexts(db);
    } finally {
      await db.destroy();
    }
    assertSameData(texts, snapshot);
    assert.equal(hasUser(texts, 'during@acme.test'), false);
    const target = await node(config);
    try {
      assert.ok(target.ctx.masterKey.equals(source.ctx.masterKey), 'the restored deployment reads the master key the backup carried');
      await assertDeploymentWorks(target, fixture);
    } finally {
      await target.close();
    }
  });
});
