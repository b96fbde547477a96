/**
 * `npm run bench`: the OAuth token endpoint (DESIGN §8), measured in one run:
 *
 * 1. Client-credentials tokens per second through Gatehouse's POST /oauth/token (an RS256
 *    API, Auth0's `audience`), beside a bare oidc-provider 9 (in-memory adapter, same
 *    algorithm, a static client and a resource server) serving the same request, and bare
 *    `jose` SignJWT RS256 signatures per second as the ceiling of both.
 *    Targets: ≥ 1,000/s and ≥ 0.7× the bare oidc-provider.
 * 2. Refresh-token rotations per second: a pool of refresh tokens (password grant with
 *    offline_access, on an application that enables `password` + `refresh_token`), each
 *    rotated in a chain (every answer's new refresh token is the next request's).
 *    Target: ≥ 1,000/s.
 *
 * Each server runs in its own process (Gatehouse from the compiled dist/), driven by the
 * lean keep-alive client of signin.bench.ts; rounds alternate the measurements.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Connection } from './connection.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const cores = availableParallelism();
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? cores * 2);
const AUDIENCE = 'https://invoices.bench.test';
const ADMIN = { username: 'admin@gatehouse.local', password: 'bench-admin-password' }; // as bench/server.mjs seeds it

/** Runs `task` with `parallel` in flight for `seconds`; returns completions per second. */
async function rate(parallel: number, seconds: number, task: (worker: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async (_, worker) => {
      while (performance.now() < deadline) {
        await task(worker);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

/** User + system CPU time of a process, all threads, in milliseconds. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const tokenRequest = (form: Record<string, string>, basic?: string) => {
  const body = new URLSearchParams(form).toString();
  return (
    'POST /oauth/token HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\n' +
    `${basic ? `authorization: Basic ${basic}\r\n` : ''}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
};
const basicAuth = (id: string, secret: string) => Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

function startChild(script: string, env: Record<string, string>) {
  const child = fork(new URL(script, import.meta.url), [], {
    execArgv: process.env.BENCH_SERVER_ARGS?.split(' ').filter(Boolean) ?? [],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, port };
}

/** Admin API calls for the set-up (fetch is fine here: not measured). */
async function call(base: string, path: string, token: string | undefined, body: unknown): Promise<any> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(', ');
const verdict = (ok: boolean) => (ok ? 'PASS' : 'BELOW');

const gatehouse = startChild('./server.mjs', { BENCH_USERS: '0' });
const children = [gatehouse.child];
const connections: Connection[] = [];
try {
  const gatehousePort = await gatehouse.port;
  const base = `http://127.0.0.1:${gatehousePort}`;

  // Set-up through the admin API, as an administrator would.
  const session = await call(base, '/api/v1/session', undefined, ADMIN);
  const admin = (await call(base, '/api/v1/token', session.token, { organization: 'system' })).token;
  const api = await call(base, '/api/v1/apis', admin, {
    identifier: AUDIENCE,
    name: 'Invoices',
    permissions: [{ value: 'read:invoices' }],
    signing_alg: 'RS256',
    rbac: true,
    permissions_in_token: true,
  });
  const m2m = await call(base, '/api/v1/applications', admin, { name: 'Bench m2m', type: 'm2m' });
  await call(base, `/api/v1/applications/${m2m.id}/grants`, admin, { api_id: api.id, permissions: ['read:invoices'] });
  const web = await call(base, '/api/v1/applications', admin, {
    name: 'Bench web',
    type: 'web',
    grant_types: ['password', 'refresh_token'],
  });

  // The bare provider knows the same client (id and secret) and serves the same bytes.
  const bare = startChild('./bare-provider.mjs', {
    BENCH_AUDIENCE: AUDIENCE,
    BENCH_CLIENT_ID: m2m.client_id,
    BENCH_CLIENT_SECRET: m2m.client_secret,
  });
  children.push(bare.child);
  const barePort = await bare.port;

  const ccRequest = tokenRequest(
    { grant_type: 'client_credentials', audience: AUDIENCE, scope: 'read:invoices' },
    basicAuth(m2m.client_id, m2m.client_secret),
  );
  const webAuth = basicAuth(web.client_id, web.client_secret);
  const refreshRequest = (token: string) => tokenRequest({ grant_type: 'refresh_token', refresh_token: token }, webAuth);

  const toGatehouse = await Promise.all(Array.from({ length: concurrency }, () => Connection.open(gatehousePort)));
  const toBare = await Promise.all(Array.from({ length: concurrency }, () => Connection.open(barePort)));
  connections.push(...toGatehouse, ...toBare);

  // Check both answer the same request with an RS256 JWT for the audience, and warm up.
  for (const [name, pool] of [
    ['gatehouse', toGatehouse],
    ['bare', toBare],
  ] as const) {
    for (let i = 0; i < 50; i++) {
      const { status, body } = await pool[0]!.send(ccRequest);
      if (status !== 200) throw new Error(`${name} client credentials: ${status} ${body}`);
      const [header, payload] = (JSON.parse(body).access_token as string)
        .split('.')
        .slice(0, 2)
        .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
      if (header.alg !== 'RS256' || payload.aud !== AUDIENCE)
        throw new Error(`${name}: unexpected token ${JSON.stringify({ header, payload })}`);
    }
  }

  // The pool of refresh tokens: one chain per connection (the password grant costs one argon2id each).
  const refreshTokens: string[] = [];
  for (let i = 0; i < concurrency; i++) {
    const { status, body } = await toGatehouse[i]!.send(
      tokenRequest({ grant_type: 'password', ...ADMIN, scope: 'openid offline_access', audience: AUDIENCE }, webAuth),
    );
    const refreshToken = JSON.parse(body).refresh_token;
    if (status !== 200 || !refreshToken) throw new Error(`password grant: ${status} ${body}`);
    refreshTokens.push(refreshToken);
  }
  let rotations = 0;
  let failures = 0;
  const rotate = async (worker: number) => {
    const { status, body } = await toGatehouse[worker]!.send(refreshRequest(refreshTokens[worker]!));
    const next = status === 200 ? JSON.parse(body).refresh_token : undefined;
    if (!next) {
      failures++;
      throw new Error(`refresh: ${status} ${body}`);
    }
    refreshTokens[worker] = next;
    rotations++;
  };
  for (let i = 0; i < 20; i++) await rotate(0);

  // Bare jose: the same kind of token, signed with an RS256 key of the same size.
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const kid = (await exportJWK(publicKey)).n!.slice(0, 16);
  const sign = () =>
    new SignJWT({ client_id: m2m.client_id, scope: 'read:invoices', permissions: ['read:invoices'] })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid })
      .setIssuer(base)
      .setSubject(m2m.client_id)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti(crypto.randomUUID())
      .sign(privateKey);

  const ok = (answer: { status: number }) => {
    if (answer.status !== 200) failures++;
  };
  const results = { gatehouse: [] as number[], bare: [] as number[], jose: [] as number[], refresh: [] as number[] };
  const cpu = { gatehouse: 0, bare: 0, refresh: 0 };
  const counts = { gatehouse: 0, bare: 0, refresh: 0 };
  const measure = async (name: 'gatehouse' | 'bare' | 'refresh', pid: number, task: (worker: number) => Promise<void>) => {
    const before = processCpuMs(pid);
    const perSecond = await rate(concurrency, SECONDS, task);
    cpu[name] += processCpuMs(pid) - before;
    counts[name] += perSecond * SECONDS;
    results[name].push(perSecond);
  };
  for (let round = 0; round < ROUNDS; round++) {
    await measure('gatehouse', gatehouse.child.pid!, async (worker) => ok(await toGatehouse[worker]!.send(ccRequest)));
    await measure('bare', bare.child.pid!, async (worker) => ok(await toBare[worker]!.send(ccRequest)));
    results.jose.push(
      await rate(cores, SECONDS, async () => {
        await sign();
      }),
    );
    const before = rotations;
    await measure('refresh', gatehouse.child.pid!, rotate);
    if (rotations === before) throw new Error('no rotation');
  }

  const cc = median(results.gatehouse);
  const bareCc = median(results.bare);
  const jose = median(results.jose);
  const refresh = median(results.refresh);
  const ratio = cc / bareCc;
  const ms = (name: keyof typeof cpu) => (cpu[name] / counts[name]).toFixed(2);
  const database = process.env.BENCH_DATABASE_URL ? 'postgresql' : 'pglite';
  console.log(
    `\ncores: ${cores}; ${ROUNDS} rounds of ${SECONDS}s per measurement, medians; concurrency ${concurrency}; database: ${database}`,
  );
  console.log(
    `bare jose SignJWT RS256 (2048-bit), concurrency ${cores}:            ${jose.toFixed(0)}/s [${list(results.jose)}] (the ceiling)`,
  );
  console.log(
    `bare oidc-provider 9, client credentials (RS256 JWT):        ${bareCc.toFixed(0)}/s [${list(results.bare)}], server CPU ${ms('bare')} ms/token`,
  );
  console.log(
    `Gatehouse POST /oauth/token client credentials (RS256 API):  ${cc.toFixed(0)}/s [${list(results.gatehouse)}], server CPU ${ms('gatehouse')} ms/token`,
  );
  console.log(
    `  bound >= 1000/s: ${verdict(cc >= 1000)}; ratio to bare oidc-provider ${ratio.toFixed(3)}, bound >= 0.7: ${verdict(ratio >= 0.7)}`,
  );
  console.log(
    `Gatehouse refresh-token rotations (password-grant tokens, openid offline_access, RS256 API), ${concurrency} chains: ` +
      `${refresh.toFixed(0)}/s [${list(results.refresh)}], server CPU ${ms('refresh')} ms/rotation`,
  );
  console.log(`  bound >= 1000/s: ${verdict(refresh >= 1000)}`);
  console.log(`failed requests: ${failures}`);
  if (failures > 0) process.exitCode = 1;
} finally {
  for (const connection of connections) connection.close();
  for (const child of children) child.kill('SIGTERM');
}
