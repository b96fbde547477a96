// A wrong master key (issue 18, part 3): the start fails before listening, with a message
// that names the fix; a node never reports ready with keys it cannot open.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnNode } from '../helpers/node-process.js';

describe('a start with the wrong master key', () => {
  let dataDir: string;
  const key = randomBytes(32).toString('base64');

  before(async () => {
    // A database set up with `key` (PGlite in a data dir: the process is the only one on it).
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-master-key-'));
    const first = await spawnNode({ GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_MASTER_KEY: key });
    await first.ready();
    first.kill('SIGTERM');
    assert.equal((await first.exited).code, 0, first.output());
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('another GATEHOUSE_MASTER_KEY: exits non-zero before listening, naming GATEHOUSE_MASTER_KEY', async () => {
    const node = await spawnNode({ GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') });
    // Asked every 100 ms until it exits: it never answers.
    let listened = false;
    const polling = (async () => {
      while (node.child.exitCode === null) {
        listened ||= await fetch(`${node.base}/readyz`).then(
          () => true,
          () => false,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const { code } = await node.exited;
    await polling;
    assert.notEqual(code, 0);
    assert.match(node.output(), /master key does not open this database's signing keys/);
    assert.match(node.output(), /Set GATEHOUSE_MASTER_KEY to that key/);
    assert.equal(listened, false, 'it never listened');
  });

  it('no GATEHOUSE_MASTER_KEY, another development key in the data dir: names that file and the variable', async () => {
    writeFileSync(join(dataDir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const node = await spawnNode({ GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_MASTER_KEY: '' });
    const { code } = await node.exited;
    assert.notEqual(code, 0);
    assert.match(node.output(), new RegExp(`the development key in ${dataDir}/master.key`));
    assert.match(node.output(), /Set GATEHOUSE_MASTER_KEY/);
  });

  it('the right key starts as before', async () => {
    const node = await spawnNode({ GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_MASTER_KEY: key });
    await node.ready();
    node.kill('SIGTERM');
    assert.equal((await node.exited).code, 0);
  });
});
