/**
 * `npm run bench`: the OAuth token endpoint (DESIGN §8, issue 18 part 4), on PGlite and on
 * PostgreSQL (bench/load.ts databases), each measured in one run beside a bare
 * oidc-provider 9 (in-memory adapter, same algorithm, the same clients and resource server,
 * bench/bare-provider.mjs) serving the same requests:
 *
 * 1. Client-credentials tokens per second through Gatehouse's POST /oauth/token (an RS256
 *    API, Auth0's `audience`), and bare `jose` SignJWT RS256 signatures per second as the
 *    ceiling of both. Bounds: ≥ 0.8× the bare oidc-provider; ≥ 1,000/s (DESIGN §8).
 * 2. Refresh-token rotations per second: a pool of refresh tokens (password grant with
 *    `openid offline_access` and the API as audience, on an application that enables
 *    `password` + `refresh_token`), each rotated in a chain (every answer's new refresh
 *    token is the next request's); the bare provider rotates tokens of the same grant.
 *    Bounds: ≥ 0.5× Gatehouse's client-credentials tokens/s, ≥ 0.5× the bare provider's
 *    rotations/s.
 * 3. The database statements (round trips) per token and per rotation, counted at the
 *    server's drivers (bench/server.mjs) over the whole measurement: the request's own, its
 *    share of the batched audit write and the background jobs. BENCH_SHOW_STATEMENTS=1
 *    lists those of one rotation and of one token.
 * 4. Latency: p50 and p99 at 80 % of the measured peak, paced (open loop). Bound: p99 < 50 ms.
 *
 * Each server runs in its own process (Gatehouse from the compiled dist/), driven by the
 * lean keep-alive client of bench/connection.ts; rounds alternate the measurements, so drift
 * on a shared machine hits each alike. The ratios are the figures; absolute rates vary with
 * the machine's load.
 */
import { availableParallelism } from 'node:os';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Connection } from './connection.js';
import {
  ask,
  databases,
  median,
  NO_POSTGRES,
  paced,
  percentile,
  processCpuMs,
  rate,
  startChild,
  statementCount,
  statementsOf,
} from './load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const cores = availableParallelism();
/**
 * Requests in flight in the closed-loop measurements, alike for both servers: enough to
 * reach a server's peak when each request waits for its database's commit (a rotation
 * does; the bare provider's memory does not), where a few in flight would measure latency.
 */
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? cores * 8);
/** Connections for the paced load: enough that a request rarely waits for one. */
const PACED_CONNECTIONS = concurrency * 2;
const AUDIENCE = 'https://invoices.bench.test';
const ADMIN = { username: 'admin@gatehouse.local', password: 'bench-admin-password' }; // as bench/server.mjs seeds it
const P99_BOUND_MS = 50;
/** Profiling one measurement alone (with BENCH_SERVER_ARGS=--cpu-prof): `cc`, `refresh`, `bareCc` or `bareRefresh`. */
const ONLY = process.env.BENCH_ONLY as 'cc' | 'refresh' | 'bareCc' | 'bareRefresh' | undefined;

const tokenRequest = (form: Record<string, string>, basic?: string) => {
  const body = new URLSearchParams(form).toString();
  return (
    'POST /oauth/token HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\n' +
    `${basic ? `authorization: Basic ${basic}\r\n` : ''}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
};
const basicAuth = (id: string, secret: string) => Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

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

const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(', ');
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** A pool of refresh-token chains on connections to one server: `rotate(worker)` rotates chain `worker`. */
function chains(connections: Connection[], tokens: string[], auth: string, onFailure: () => void) {
  let rotations = 0;
  return {
    get rotations() {
      return rotations;
    },
    async rotate(worker: number) {
      const { status, body } = await connections[worker]!.send(
        tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens[worker]! }, auth),
      );
      const next = status === 200 ? JSON.parse(body).refresh_token : undefined;
      if (!next) {
        onFailure();
        throw new Error(`refresh: ${status} ${body}`);
      }
      tokens[worker] = next;
      rotations++;
    },
  };
}

async function run(database: { name: string; url: string | undefined }) {
  const gatehouse = startChild(new URL('./server.mjs', import.meta.url), { BENCH_USERS: '0', BENCH_DATABASE_URL: database.url ?? '' });
  const children = [gatehouse.child];
  const connections: Connection[] = [];
  let failures = 0;
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

    // The bare provider knows the same clients (ids and secrets) and serves the same bytes.
    const bare = startChild(new URL('./bare-provider.mjs', import.meta.url), {
      BENCH_AUDIENCE: AUDIENCE,
      BENCH_CLIENT_ID: m2m.client_id,
      BENCH_CLIENT_SECRET: m2m.client_secret,
      BENCH_WEB_CLIENT_ID: web.client_id,
      BENCH_WEB_CLIENT_SECRET: web.client_secret,
    });
    children.push(bare.child);
    const barePort = await bare.port;

    const ccRequest = tokenRequest(
      { grant_type: 'client_credentials', audience: AUDIENCE, scope: 'read:invoices' },
      basicAuth(m2m.client_id, m2m.client_secret),
    );
    const webAuth = basicAuth(web.client_id, web.client_secret);

    const toGatehouse = await Promise.all(Array.from({ length: PACED_CONNECTIONS }, () => Connection.open(gatehousePort)));
    const toBare = await Promise.all(Array.from({ length: PACED_CONNECTIONS }, () => Connection.open(barePort)));
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

    // The pools of refresh tokens: one chain per connection (Gatehouse's password grant costs one argon2id each).
    const gatehouseTokens: string[] = [];
    for (let i = 0; i < PACED_CONNECTIONS; i++) {
      const { status, body } = await toGatehouse[i]!.send(
        tokenRequest({ grant_type: 'password', ...ADMIN, scope: 'openid offline_access', audience: AUDIENCE }, webAuth),
      );
      const refreshToken = JSON.parse(body).refresh_token;
      if (status !== 200 || !refreshToken) throw new Error(`password grant: ${status} ${body}`);
      gatehouseTokens.push(refreshToken);
    }
    const bareTokens = (await ask<{ tokens: string[] }>(bare.child, { refreshTokens: PACED_CONNECTIONS }, 'tokens')).tokens;
    const onFailure = () => failures++;
    const gatehouseChains = chains(toGatehouse, gatehouseTokens, webAuth, onFailure);
    const bareChains = chains(toBare, bareTokens, webAuth, onFailure);
    for (let i = 0; i < 20; i++) {
      await gatehouseChains.rotate(0);
      await bareChains.rotate(0);
    }
    // Both rotations answer the same: an access token for the API, an ID token and a new refresh token.
    for (const [name, pool, tokens] of [
      ['gatehouse', toGatehouse, gatehouseTokens],
      ['bare', toBare, bareTokens],
    ] as const) {
      const { body } = await pool[1]!.send(tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens[1]! }, webAuth));
      const answer = JSON.parse(body);
      tokens[1] = answer.refresh_token;
      const payload = JSON.parse(Buffer.from(answer.access_token.split('.')[1], 'base64url').toString());
      if (payload.aud !== AUDIENCE || !answer.id_token || !answer.refresh_token)
        throw new Error(`${name} rotation: unexpected answer ${body.slice(0, 300)}`);
    }

    // The statements of one rotation and of one client-credentials token, as the server sends them.
    const shown: string[] = [];
    for (const [name, send] of [
      ['one refresh rotation', () => gatehouseChains.rotate(0)],
      ['one client-credentials token', () => toGatehouse[0]!.send(ccRequest)],
    ] as const) {
      const recorded = await statementsOf(gatehouse.child, send);
      shown.push(`${name}: ${recorded.length} statements (with the audit write and any background job in the same 200 ms)`);
      if (process.env.BENCH_SHOW_STATEMENTS)
        for (const { text, ms } of recorded) shown.push(`    ${ms.toFixed(2)} ms ${text.replace(/\s+/g, ' ').slice(0, 160)}`);
    }

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
    const tasks = {
      cc: async (worker: number) => ok(await toGatehouse[worker]!.send(ccRequest)),
      bareCc: async (worker: number) => ok(await toBare[worker]!.send(ccRequest)),
      refresh: (worker: number) => gatehouseChains.rotate(worker),
      bareRefresh: (worker: number) => bareChains.rotate(worker),
    };
    type Name = keyof typeof tasks;
    const pids: Record<Name, number> = {
      cc: gatehouse.child.pid!,
      bareCc: bare.child.pid!,
      refresh: gatehouse.child.pid!,
      bareRefresh: bare.child.pid!,
    };
    const results: Record<Name, number[]> = { cc: [], bareCc: [], refresh: [], bareRefresh: [] };
    const cpu: Record<Name, number> = { cc: 0, bareCc: 0, refresh: 0, bareRefresh: 0 };
    const counts: Record<Name, number> = { cc: 0, bareCc: 0, refresh: 0, bareRefresh: 0 };
    const statements = { cc: 0, refresh: 0 };
    const jose: number[] = [];
    const measure = async (name: Name) => {
      const counting = name === 'cc' || name === 'refresh';
      const statementsBefore = counting ? await statementCount(gatehouse.child) : 0;
      const before = processCpuMs(pids[name]);
      const perSecond = await rate(concurrency, SECONDS, tasks[name]);
      cpu[name] += processCpuMs(pids[name]) - before;
      counts[name] += perSecond * SECONDS;
      if (counting) statements[name] += (await statementCount(gatehouse.child)) - statementsBefore;
      results[name].push(perSecond);
    };
    for (let round = 0; round < ROUNDS; round++) {
      if (ONLY) {
        // The statements of the whole measurement, by text: how often, and their time.
        const recorded = await statementsOf(gatehouse.child, () => measure(ONLY));
        const byText = new Map<string, { n: number; ms: number }>();
        for (const { text, ms } of recorded) {
          const key = text.replace(/\s+/g, ' ').trim().slice(0, 110);
          const entry = byText.get(key) ?? { n: 0, ms: 0 };
          entry.n++;
          entry.ms += ms;
          byText.set(key, entry);
        }
        console.log(`${ONLY}: ${results[ONLY].at(-1)?.toFixed(1)}/s, ${counts[ONLY].toFixed(0)} operations`);
        for (const [text, { n, ms }] of [...byText].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25))
          console.log(`${String(n).padStart(6)} ${ms.toFixed(0).padStart(7)} ms  ${text}`);
        continue;
      }
      await measure('cc');
      await measure('bareCc');
      jose.push(await rate(cores, SECONDS, () => sign().then(() => undefined)));
      await measure('refresh');
      await measure('bareRefresh');
    }
    const peak = {
      cc: median(results.cc),
      bareCc: median(results.bareCc),
      refresh: median(results.refresh),
      bareRefresh: median(results.bareRefresh),
    };

    if (ONLY) return;
    // Latency at 80 % of the measured peak, paced.
    const latency = {
      cc: await paced(0.8 * peak.cc, SECONDS, PACED_CONNECTIONS, tasks.cc),
      refresh: await paced(0.8 * peak.refresh, SECONDS, PACED_CONNECTIONS, tasks.refresh),
    };

    const ms = (name: Name) => (cpu[name] / counts[name]).toFixed(2);
    const perOp = (name: 'cc' | 'refresh') => (statements[name] / counts[name]).toFixed(2);
    const ccRatio = peak.cc / peak.bareCc;
    const refreshToCc = peak.refresh / peak.cc;
    const refreshToBare = peak.refresh / peak.bareRefresh;
    const lines = [
      `\n== OAuth token endpoint on ${database.name}: cores ${cores}; ${ROUNDS} rounds of ${SECONDS}s per measurement, medians; concurrency ${concurrency}`,
      `bare jose SignJWT RS256 (2048-bit), concurrency ${cores}: ${median(jose).toFixed(0)}/s [${list(jose)}] (the ceiling)`,
      `bare oidc-provider 9, client credentials (RS256 JWT): ${peak.bareCc.toFixed(0)}/s [${list(results.bareCc)}], server CPU ${ms('bareCc')} ms/token`,
      `Gatehouse client credentials (RS256 API): ${peak.cc.toFixed(0)}/s [${list(results.cc)}], server CPU ${ms('cc')} ms/token, ${perOp('cc')} statements/token`,
      `  ratio to bare oidc-provider ${ccRatio.toFixed(3)}, bound >= 0.8: ${verdict(ccRatio >= 0.8)}; >= 1000/s (DESIGN §8): ${verdict(peak.cc >= 1000)}`,
      `bare oidc-provider 9, refresh rotations (RS256 access token, ID token, new refresh token): ${peak.bareRefresh.toFixed(0)}/s [${list(results.bareRefresh)}], server CPU ${ms('bareRefresh')} ms/rotation`,
      `Gatehouse refresh rotations (the same): ${peak.refresh.toFixed(0)}/s [${list(results.refresh)}], server CPU ${ms('refresh')} ms/rotation, ${perOp('refresh')} statements/rotation`,
      `  ratio to Gatehouse client credentials ${refreshToCc.toFixed(3)}, bound >= 0.5: ${verdict(refreshToCc >= 0.5)}`,
      `  ratio to bare oidc-provider rotations ${refreshToBare.toFixed(3)}, bound >= 0.5: ${verdict(refreshToBare >= 0.5)}`,
      ...(['cc', 'refresh'] as const).map((name) => {
        const p99 = percentile(latency[name], 99);
        return (
          `latency of ${name === 'cc' ? 'client credentials' : 'refresh rotations'} at 80 % of peak (${(0.8 * peak[name]).toFixed(0)}/s paced, ${latency[name].length} requests): ` +
          `p50 ${percentile(latency[name], 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, bound p99 < ${P99_BOUND_MS} ms: ${verdict(p99 < P99_BOUND_MS)}`
        );
      }),
      ...shown,
      `failed requests: ${failures}`,
    ];
    console.log(lines.join('\n'));
    if (failures > 0) process.exitCode = 1;
  } finally {
    for (const connection of connections) connection.close();
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((r) => child.once('exit', r)) : undefined)));
  }
}

for (const database of databases()) {
  if (database.name === 'PostgreSQL' && !database.url) console.log(`\n${NO_POSTGRES}`);
  else await run(database);
}
