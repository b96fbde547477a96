/**
 * `npm run bench`: a node's start and memory (issue 18, part 4, "Memory and start"), on the
 * embedded database and on PostgreSQL. Each run is `node bin/gatehouse.js start` as an
 * operator runs it (dist/ built by `npm run bench`), a child process:
 * - the first start, on an empty data directory or database;
 * - FOOTPRINT_ROUNDS restarts (default 3) on the existing one: the time until /readyz answers
 *   200 (bound 3 s) and the CPU time the process used until then (the share of it that is the
 *   machine's load shows in the difference);
 * - the idle RSS (VmRSS) FOOTPRINT_SETTLE_SECONDS (default 10) after start, then again after a
 *   few requests (sign-ins, discovery, JWKS, the admin API) have settled. Bounds: ≤ 250 MB on
 *   PGlite, < 150 MB on PostgreSQL.
 * BENCH_DATABASE_URL names the PostgreSQL server (default: the local one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyPostgresDatabase } from '../test/helpers/database.js';

const ROUNDS = Number(process.env.FOOTPRINT_ROUNDS ?? 3);
const SETTLE_MS = Number(process.env.FOOTPRINT_SETTLE_SECONDS ?? 10) * 1000;
const SERVER_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const START_BOUND_S = 3;
const RSS_BOUND = { PGlite: { mb: 250, inclusive: true }, PostgreSQL: { mb: 150, inclusive: false } };
const ADMIN = { email: 'admin@footprint.test', password: 'footprint-admin-password' };
const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in these

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** VmRSS of a process, in MB. */
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
/** User + system CPU seconds of a process, its threads (the argon2 workers) included. */
const cpuOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Started {
  child: ChildProcess;
  seconds: number;
  cpu: number;
  port: number;
}

async function start(env: NodeJS.ProcessEnv): Promise<Started> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, ['bin/gatehouse.js', 'start'], {
    env: { ...env, GATEHOUSE_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gatehouse start exited with ${child.exitCode}: ${stderr.slice(0, 2000)}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (performance.now() - started > 180_000) throw new Error(`not ready within 3 minutes: ${stderr.slice(0, 2000)}`);
    await sleep(20);
  }
  return { child, seconds: (performance.now() - started) / 1000, cpu: cpuOf(child.pid!), port };
}

async function stop({ child }: Started) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** What a node that has served looks like: sign-ins, discovery, the JWKS, an admin list. */
async function exercise(port: number) {
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 5; i++) {
    const session = await fetch(`${base}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: ADMIN.email, password: ADMIN.password }),
    });
    if (session.status !== 200) throw new Error(`sign-in: ${session.status} ${await session.text()}`);
    const { token } = (await session.json()) as { token: string };
    const access = await fetch(`${base}/api/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{}',
    });
    const accessToken = ((await access.json()) as { token?: string }).token ?? token;
    for (const path of [
      '/.well-known/openid-configuration',
      '/.well-known/jwks.json',
      '/api/v1/users?limit=5',
      '/api/v1/audit-events?limit=5',
    ]) {
      const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${accessToken}` } });
      await response.arrayBuffer();
    }
  }
}

async function measure(database: 'PGlite' | 'PostgreSQL') {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-footprint-'));
  const postgres = database === 'PostgreSQL' ? await emptyPostgresDatabase(SERVER_URL) : undefined;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
    GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
    GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
    GATEHOUSE_LOG_LEVEL: 'warn',
    ...(postgres && { GATEHOUSE_DATABASE_URL: postgres.url }),
  };
  try {
    const first = await start(env);
    await sleep(SETTLE_MS);
    const firstRss = rssOf(first.child.pid!);
    await stop(first);

    const restarts: Started[] = [];
    const idle: number[] = [];
    const served: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const node = await start(env);
      restarts.push(node);
      await sleep(SETTLE_MS);
      idle.push(rssOf(node.child.pid!));
      if (round === ROUNDS - 1) {
        await exercise(node.port);
        await sleep(SETTLE_MS);
        served.push(rssOf(node.child.pid!));
      }
      await stop(node);
    }
    const restart = median(restarts.map((r) => r.seconds));
    const cpu = median(restarts.map((r) => r.cpu));
    const rss = median(idle);
    const bound = RSS_BOUND[database];
    const within = (mb: number) => (bound.inclusive ? mb <= bound.mb : mb < bound.mb);
    console.log(`footprint on ${database} (load average ${load()})`);
    console.log(
      `  first start (empty ${database === 'PGlite' ? 'data directory' : 'database'}): ready in ${first.seconds.toFixed(1)} s, idle RSS ${firstRss.toFixed(0)} MB`,
    );
    console.log(
      `  restart on the existing data: ready in ${restart.toFixed(2)} s (median of ${ROUNDS}; ${restarts.map((r) => r.seconds.toFixed(2)).join(', ')}), ` +
        `CPU until ready ${cpu.toFixed(2)} s (bound: ready within ${START_BOUND_S} s) ${restart <= START_BOUND_S ? 'OK' : 'OVER'}`,
    );
    console.log(
      `  idle RSS after start ${rss.toFixed(0)} MB (median of ${ROUNDS}; ${idle.map((r) => r.toFixed(0)).join(', ')}) ` +
        `(bound: ${bound.inclusive ? '≤' : '<'} ${bound.mb} MB) ${within(rss) ? 'OK' : 'OVER'}`,
    );
    console.log(
      `  idle RSS after serving (5 sign-ins, tokens, discovery, JWKS, admin lists) ${served[0]!.toFixed(0)} MB ` +
        `(bound: ${bound.inclusive ? '≤' : '<'} ${bound.mb} MB) ${within(served[0]!) ? 'OK' : 'OVER'}`,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await postgres?.drop();
  }
}

await measure('PGlite');
await measure('PostgreSQL');
