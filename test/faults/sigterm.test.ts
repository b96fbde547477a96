// SIGTERM to a node and to `npm start` (issue 18, part 3): unready at once, serving through
// the grace, then no new connection, the request in flight finished, exit 0; no orphan.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnNode } from '../helpers/node-process.js';
import { freePort } from '../helpers/oidc.js';

const REPO = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A request whose body arrives in two halves: in flight from the first byte until the second half is sent. */
function slowRequest(base: string) {
  const body = JSON.stringify({ username: 'nobody@faults.test', password: 'not-the-password' });
  const half = Math.floor(body.length / 2);
  const req = request(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
  });
  const answered = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    req.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }));
    });
    req.on('error', reject);
  });
  req.write(body.slice(0, half));
  return { finish: () => req.end(body.slice(half)), answered };
}

/** A GET on a new connection: its status and its Connection header. */
const get = (url: string) =>
  new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    request(url, { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }));
    })
      .on('error', reject)
      .end();
  });

const refused = (base: string) =>
  fetch(`${base}/healthz`, { signal: AbortSignal.timeout(3_000) }).then(
    () => false,
    (error) => (error as Error & { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED',
  );

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('stopping a node', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sigterm-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM: /readyz 503 at once, serving through the grace, then refused; the request in flight completes; exit 0', async () => {
    const node = await spawnNode({
      GATEHOUSE_DATA_DIR: dataDir(),
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
      GATEHOUSE_SHUTDOWN_GRACE: '2',
    });
    try {
      await node.ready();
      const inFlight = slowRequest(node.base);
      await sleep(300);
      const signalled = Date.now();
      node.kill('SIGTERM');
      await sleep(200);
      const during = await fetch(`${node.base}/readyz`);
      assert.equal(during.status, 503, 'unready at once');
      assert.equal(((await during.json()) as { status: string }).status, 'shutting_down');
      const served = await get(`${node.base}/healthz`);
      assert.equal(served.status, 200, 'still serving during the grace');
      assert.equal(served.connection, 'close', 'and asks the client to take its next request elsewhere');
      // After the grace: no new connection.
      while (!(await refused(node.base))) {
        assert.ok(Date.now() - signalled < 8_000, 'new connections refused after the grace');
        await sleep(200);
      }
      assert.ok(Date.now() - signalled >= 1_900, `the grace was kept (${Date.now() - signalled} ms)`);
      assert.equal(node.child.exitCode, null, 'still finishing the request in flight');
      inFlight.finish();
      const answer = await inFlight.answered;
      assert.equal(answer.status, 401, 'the request in flight got its answer');
      const { code } = await node.exited;
      assert.equal(code, 0, node.output());
      assert.ok(Date.now() - signalled < 12_000);
    } finally {
      node.kill('SIGKILL');
    }
  });

  it('SIGTERM to a node nobody watches through /readyz: no grace, it stops at once', async () => {
    const node = await spawnNode({ GATEHOUSE_DATA_DIR: dataDir(), GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') });
    try {
      // Ready, seen without /readyz.
      while (
        !(await fetch(`${node.base}/healthz`).then(
          (r) => r.ok,
          () => false,
        ))
      )
        await sleep(100);
      const signalled = Date.now();
      node.kill('SIGTERM');
      assert.equal((await node.exited).code, 0, node.output());
      assert.ok(Date.now() - signalled < 2_500, `stopped in ${Date.now() - signalled} ms`);
    } finally {
      node.kill('SIGKILL');
    }
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`npm start, then ${signal} to npm: the node stops too (no orphan), and the port is free`, async () => {
      const port = await freePort();
      const npm = spawn('npm', ['start'], {
        cwd: REPO,
        env: {
          ...process.env,
          GATEHOUSE_DATA_DIR: dataDir(),
          GATEHOUSE_PORT: String(port),
          GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
          GATEHOUSE_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      npm.stdout?.on('data', (chunk) => {
        output += chunk;
      });
      npm.stderr?.on('data', (chunk) => {
        output += chunk;
      });
      const base = `http://127.0.0.1:${port}`;
      let nodePid: number | undefined;
      try {
        // The prestart builds only when dist/ is stale (CI builds before the tests).
        const until = Date.now() + 300_000;
        while (
          !(await fetch(`${base}/healthz`).then(
            (r) => r.ok,
            () => false,
          ))
        ) {
          assert.ok(npm.exitCode === null && Date.now() < until, `npm start serves:\n${output}`);
          await sleep(200);
        }
        const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(npm.pid)])
          .toString()
          .trim()
          .split('\n');
        const nodeLine = children.find((line) => line.includes('bin/gatehouse.js start'));
        assert.ok(nodeLine, `the node is npm's own child (no shell between): ${children.join(' | ')}`);
        nodePid = Number(nodeLine.trim().split(/\s+/)[0]);
        npm.kill(signal);
        const until2 = Date.now() + 10_000;
        while (alive(nodePid)) {
          assert.ok(Date.now() < until2, `the node ${nodePid} is still running 10 s after ${signal} to npm:\n${output}`);
          await sleep(100);
        }
        assert.ok(await refused(base), 'the port is free');
      } finally {
        npm.kill('SIGKILL');
        if (nodePid && alive(nodePid)) process.kill(nodePid, 'SIGKILL');
      }
    });
  }
});
