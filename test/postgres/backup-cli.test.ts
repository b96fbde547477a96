import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMasterKey } from '../../src/platform/config.js';
import { openDatabase } from '../../src/platform/db/database.js';
import { node, postgresUrl, testConfig } from '../helpers/backup.js';
import { emptyPostgresDatabase } from '../helpers/database.js';

/**
 * `gatehouse backup FILE` and `gatehouse restore FILE [--force]` as an operator runs them:
 * real processes, a real PGlite data directory, a real PostgreSQL database. The passphrase
 * comes from a file or the environment, never from the command line.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = new URL('../../src/main/cli.ts', import.meta.url).href;
const ENTRY = `import(${JSON.stringify(CLI)}).then((m) => m.main(['node', 'gatehouse', ...process.argv.slice(1)]))`;
const STEP = { timeout: 120_000 };
const OPS = { email: 'ops@backup.test', password: 'ops-password-for-the-cli' };
const PASSPHRASE = 'a passphrase from a file';

const running = new Set<ChildProcess>();

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('GATEHOUSE_') || name === 'NODE_ENV' || name.startsWith('NODE_TEST')) continue;
    env[name] = value;
  }
  return { ...env, GATEHOUSE_LOG_LEVEL: 'warn', ...extra };
}

/** Runs a command to its end; resolves with its exit code and output. */
function gatehouse(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      running.delete(child);
      resolve({ code, output });
    });
  });
}

/** Starts `gatehouse start` and resolves once it listens; `stop` ends it. */
async function server(env: Record<string, string>): Promise<{ stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, 'start'], {
    cwd: ROOT,
    env: childEnv({ ...env, GATEHOUSE_PORT: '0', GATEHOUSE_LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Gatehouse listening on')) resolve();
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    exited.then(() => reject(new Error(`gatehouse start exited:\n${output}`)));
  });
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      running.delete(child);
    },
  };
}

describe('gatehouse backup / restore', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-backup-cli-'));
  const dataDir = join(dir, 'data');
  const file = join(dir, 'gatehouse.ghbackup');
  const passphraseFile = join(dir, 'passphrase');
  let pg: { url: string; drop: () => Promise<void> };
  let masterKey: string;
  const embedded = { GATEHOUSE_DATA_DIR: dataDir };
  let postgres: Record<string, string>;

  before(async () => {
    writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    pg = await emptyPostgresDatabase(postgresUrl());
  });
  after(async () => {
    for (const child of running) child.kill('SIGKILL');
    await pg.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs up an embedded database to a file only its owner reads', STEP, async () => {
    const created = await gatehouse(['admin', 'create', '--email', OPS.email, '--password', OPS.password], embedded);
    assert.equal(created.code, 0, created.output);
    masterKey = readFileSync(join(dataDir, 'master.key'), 'utf8').trim();
    postgres = { GATEHOUSE_DATABASE_URL: pg.url, GATEHOUSE_MASTER_KEY: masterKey, GATEHOUSE_DATA_DIR: join(dir, 'unused') };

    const run = await gatehouse(['backup', file, '--passphrase-file', passphraseFile], embedded);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Backed up \d+ rows of \d+ tables \(users: 1\) to .*gatehouse\.ghbackup \(\d+ bytes\)/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(existsSync(`${file}.partial`), false);
    assert.equal(readFileSync(file).includes(Buffer.from(OPS.email)), false, 'nothing readable without the passphrase');
  });

  it('points to POST /api/v1/backup while a server holds the embedded database', STEP, async () => {
    const live = await server(embedded);
    try {
      const run = await gatehouse(['backup', join(dir, 'x'), '--passphrase-file', passphraseFile], embedded);
      assert.equal(run.code, 2);
      assert.match(run.output, /in use by process \d+.*POST \/api\/v1\/backup/);
      assert.equal(existsSync(join(dir, 'x')), false);
    } finally {
      await live.stop();
    }
  });

  it('needs a passphrase of 12 or more characters, from a file or GATEHOUSE_BACKUP_PASSPHRASE', STEP, async () => {
    const none = await gatehouse(['backup', join(dir, 'x')], embedded);
    assert.equal(none.code, 2);
    assert.match(none.output, /--passphrase-file FILE or GATEHOUSE_BACKUP_PASSPHRASE/);
    const short = await gatehouse(['backup', join(dir, 'x')], { ...embedded, GATEHOUSE_BACKUP_PASSPHRASE: 'short' });
    assert.equal(short.code, 2);
    assert.match(short.output, /at least 12 characters/);
    assert.equal(existsSync(join(dir, 'x')), false);
  });

  it('restores into an empty PostgreSQL database, where the administrator signs in', STEP, async () => {
    const run = await gatehouse(['restore', file, '--passphrase-file', passphraseFile], postgres);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Restored \d+ rows of \d+ tables \(users: 1\) from the backup of /);
    const target = await node(testConfig({ masterKey: parseMasterKey(masterKey) }), await openDatabase({ url: pg.url }));
    try {
      assert.equal((await target.signIn(OPS.email, OPS.password)).status, 200);
    } finally {
      await target.close();
    }
  });

  it('refuses a database in use without --force, a wrong passphrase, and another master key', STEP, async () => {
    const again = await gatehouse(['restore', file, '--passphrase-file', passphraseFile], postgres);
    assert.equal(again.code, 2);
    assert.match(again.output, /in use .*--force/);
    const wrong = await gatehouse(['restore', file, '--force'], { ...postgres, GATEHOUSE_BACKUP_PASSPHRASE: 'not the passphrase' });
    assert.equal(wrong.code, 2);
    assert.match(wrong.output, /Wrong passphrase/);
    const otherKey = { ...postgres, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') };
    const mismatch = await gatehouse(['restore', file, '--force', '--passphrase-file', passphraseFile], otherKey);
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.output, /GATEHOUSE_MASTER_KEY differs from the backup's master key/);
    const missing = await gatehouse(['restore', join(dir, 'missing'), '--passphrase-file', passphraseFile], postgres);
    assert.equal(missing.code, 2);
    assert.match(missing.output, /No such file/);
  });

  it('--force replaces a database in use', STEP, async () => {
    const run = await gatehouse(['restore', file, '--force'], { ...postgres, GATEHOUSE_BACKUP_PASSPHRASE: PASSPHRASE });
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Restored \d+ rows .*\(users: 1\)/);
  });
});
