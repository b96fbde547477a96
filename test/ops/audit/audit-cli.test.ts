import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../../src/platform/db/database.js';

/**
 * `gatehouse audit verify` as an operator runs it: a real process on a real PGlite data
 * directory; exit code 0 when the chains hold, 1 with the break printed when a row was changed.
 */
const ROOT = new URL('../../..', import.meta.url).pathname;
const CLI = new URL('../../../src/main/cli.ts', import.meta.url).href;
const ENTRY = `import(${JSON.stringify(CLI)}).then((m) => m.main(['node', 'gatehouse', ...process.argv.slice(1)]))`;
const STEP = { timeout: 120_000 };

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('GATEHOUSE_') && name !== 'NODE_ENV' && !name.startsWith('NODE_TEST')),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, ...args], {
    cwd: ROOT,
    env: { ...clean, GATEHOUSE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

describe('gatehouse audit verify', () => {
  let dataDir: string;
  let env: Record<string, string>;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-cli-'));
    env = {
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
      GATEHOUSE_ADMIN_PASSWORD: 'cli-admin-password',
    };
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('exits 0 and says how much it checked when the trail holds', STEP, async () => {
    const { code, output } = await run(['audit', 'verify'], env);
    assert.equal(code, 0, output);
    assert.match(output, /^Audit trail OK: \d+ events in \d+ chains/m);
  });

  it('exits 1 and names the break when a row was changed', STEP, async () => {
    const db = await openDatabase({ dataDir });
    let changed: string;
    try {
      const { rows } = await sql<{
        id: string;
        tenant_id: string | null;
        seq: string | number;
      }>`select id::text as id, tenant_id::text as tenant_id,
        chain_seq as seq from audit_events where chain_seq is not null order by id limit 1`.execute(db);
      assert.ok(rows[0], 'the first start’s events were chained');
      changed = rows[0].id;
      await sql`update audit_events set action = 'iam.user.deleted' where id = ${changed}::uuid`.execute(db);
    } finally {
      await db.destroy();
    }
    const { code, output } = await run(['audit', 'verify'], env);
    assert.equal(code, 1, output);
    assert.match(output, new RegExp(`Audit trail BROKEN .*: changed in the chain of tenant \\S+ at seq \\d+, event ${changed}`));
  });
});
