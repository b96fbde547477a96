/**
 * `npm run bench`: password sign-ins per second through POST /api/v1/session, beside bare
 * argon2id verifications per second with the same parameters and concurrency, measured in
 * the same run. Target (issue 2, DESIGN §8): ratio ≥ 0.9. Also prints the server's idle and
 * peak resident memory.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/argon2';
import { ARGON2_PARAMS } from '../src/crypto/passwords.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const USERS = 1000;
const PASSWORD = 'bench-password-123';
const cores = availableParallelism();
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? cores * 2);

/** Runs `task` with `parallel` in flight for `seconds`; returns completions per second. */
async function rate(parallel: number, seconds: number, task: (i: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < deadline) {
        await task(done);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))?.[1] ?? 0);
  return Math.round(kb / 1024);
}

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
function signIn(port: number, username: string): Promise<number> {
  const body = JSON.stringify({ username, password: PASSWORD });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/api/v1/session',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const server = fork(new URL('./server.ts', import.meta.url), [], {
  execArgv: ['--import', 'tsx'],
  env: { ...process.env, BENCH_USERS: String(USERS), BENCH_PASSWORD: PASSWORD },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const port = await new Promise<number>((resolve, reject) => {
  server.once('message', (m: { port: number }) => resolve(m.port));
  server.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
});
const pid = server.pid!;

try {
  // Warm up both paths (JIT, connection pool, PGlite caches), then let the server settle.
  for (let i = 0; i < 2 * concurrency; i++) if ((await signIn(port, `user${i}@bench.test`)) !== 200) throw new Error('sign-in failed');
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = rssMb(pid, 'VmRSS');

  const stored = await hash(PASSWORD, ARGON2_PARAMS);
  const bare = await rate(cores, SECONDS, async () => {
    if (!(await verify(stored, PASSWORD))) throw new Error('verify failed');
  });

  let failures = 0;
  const logins = await rate(concurrency, SECONDS, async (i) => {
    if ((await signIn(port, `user${i % USERS}@bench.test`)) !== 200) failures++;
  });
  const peakRss = rssMb(pid, 'VmHWM');
  const ratio = logins / bare;
  const params = `m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}`;
  const database = process.env.BENCH_DATABASE_URL ? 'postgresql' : 'pglite';
  console.log(`cores: ${cores}; ${SECONDS}s per measurement; database: ${database}`);
  console.log(`bare argon2id verify (${params}), concurrency ${cores}: ${bare.toFixed(1)}/s`);
  console.log(`POST /api/v1/session (${USERS} users), concurrency ${concurrency}: ${logins.toFixed(1)}/s (${failures} failed)`);
  console.log(`ratio sign-ins / bare verifications: ${ratio.toFixed(3)} (target >= 0.9: ${ratio >= 0.9 ? 'met' : 'NOT met'})`);
  console.log(`server RSS: idle ${idleRss} MB, peak ${peakRss} MB`);
  if (failures > 0) process.exitCode = 1;
} finally {
  server.kill('SIGTERM');
  agent.destroy();
}
