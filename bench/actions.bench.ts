/**
 * `npm run bench`: sign-ins per second with one post-login action that sets a claim, against
 * sign-ins with none, in the same run and process (issue 16). A sign-in is the OAuth password
 * grant of a tenant's application (argon2id, the session's checks, a signed access token).
 * Rounds alternate between "none bound" and "one bound" so drift hits both. Bound: with a warm
 * sandbox, with ≥ 0.9 × without. Also printed: the same ratio for the OIH token of an open
 * session (no password hash, so the action's share shows), and the p50 cost of one action
 * run (the dispatcher's call into the sandbox worker and back) in milliseconds.
 * In-process on PGlite, driven through Fastify's inject.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGatehouse } from '../src/main/gatehouse.js';
import { engineOf } from '../src/ops/actions/runner.js';
import { parseConfig } from '../src/platform/config.js';
import { median, rate } from './load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const PASSWORD = 'bench-password-123';
const ADMIN = { email: 'admin@bench.test', password: 'bench-admin-password' };

const config = parseConfig(
  {
    masterKey: randomBytes(32).toString('base64'),
    adminEmail: ADMIN.email,
    adminPassword: ADMIN.password,
    logLevel: 'warn',
    dataDir: mkdtempSync(join(tmpdir(), 'gatehouse-actions-bench-')),
  },
  false,
);
const { app, ctx } = await createGatehouse(config, { background: false });
const call = async (method: 'GET' | 'POST' | 'PUT', url: string, token?: string, body?: unknown) => {
  const response = await app.inject({
    method,
    url,
    headers: { ...(token && { authorization: `Bearer ${token}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { payload: JSON.stringify(body) }),
  });
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.json();
};
const session = (await call('POST', '/api/v1/session', undefined, { username: ADMIN.email, password: ADMIN.password })).token;
const systemId = (await call('GET', '/api/v1/organizations', session)).organizations[0].id;
const admin = (await call('POST', '/api/v1/token', session, { organization: systemId })).token;
const tenant = await call('POST', '/api/v1/tenants', admin, { name: 'Bench', slug: 'bench' });
await call('POST', '/api/v1/apis', admin, { identifier: 'urn:gatehouse:bench:api', name: 'API', tenant: tenant.id });
const web = await call('POST', '/api/v1/applications', admin, {
  name: 'Web',
  type: 'web',
  redirect_uris: ['https://app.bench.test/cb'],
  grant_types: ['password'],
  tenant: tenant.id,
});
for (let i = 0; i < CONCURRENCY; i++)
  await call('POST', '/api/v1/users', admin, { email: `user${i}@bench.test`, password: PASSWORD, tenant: tenant.id });
const action = await call('POST', '/api/v1/actions', admin, {
  name: 'Claim',
  trigger: 'post-login',
  tenant: tenant.id,
  code: `exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('https://bench/roles', event.authorization.roles); };`,
});
await call('POST', `/api/v1/actions/${action.id}/deploy`, admin, {});
const bind = (bindings: { action_id: string }[]) =>
  call('PUT', `/api/v1/triggers/post-login/bindings?tenant=${tenant.id}`, admin, { bindings });

const form = (worker: number) =>
  new URLSearchParams({
    grant_type: 'password',
    username: `user${worker}@bench.test`,
    password: PASSWORD,
    audience: 'urn:gatehouse:bench:api',
    client_id: web.client_id,
    client_secret: web.client_secret,
  }).toString();
let claimed = 0;
const signIn = async (worker: number) => {
  const response = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: form(worker),
  });
  if (response.statusCode !== 200) throw new Error(`sign-in: ${response.statusCode} ${response.body}`);
  if (
    response.body.length > 0 &&
    JSON.parse(Buffer.from(response.json().access_token.split('.')[1], 'base64url').toString())['https://bench/roles']
  )
    claimed++;
};
const sessions = await Promise.all(
  Array.from(
    { length: CONCURRENCY },
    async (_, i) =>
      (await call('POST', '/api/v1/session', undefined, { username: `user${i}@bench.test`, password: PASSWORD })).token as string,
  ),
);
const oihToken = async (worker: number) => {
  await call('POST', '/api/v1/token', sessions[worker], { organization: tenant.id });
};

const results = { none: [] as number[], bound: [] as number[], oihNone: [] as number[], oihBound: [] as number[] };
// Warm-up: the sandbox worker starts and the tenant's sandbox is made on the first bound sign-in.
await bind([{ action_id: action.id }]);
await rate(CONCURRENCY, 1, signIn);
for (let round = 0; round < ROUNDS; round++) {
  await bind([]);
  results.none.push(await rate(CONCURRENCY, SECONDS, signIn));
  results.oihNone.push(await rate(CONCURRENCY, SECONDS / 2, oihToken));
  await bind([{ action_id: action.id }]);
  claimed = 0;
  results.bound.push(await rate(CONCURRENCY, SECONDS, signIn));
  if (claimed === 0) throw new Error('the bound action set no claim');
  results.oihBound.push(await rate(CONCURRENCY, SECONDS / 2, oihToken));
}

// The p50 cost of one action run, as the dispatcher pays it.
const engine = engineOf(ctx);
const bound = {
  id: action.id,
  name: 'Claim',
  tenantId: tenant.id,
  runtime: 'js' as const,
  version: 1,
  code: `exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('https://bench/roles', event.authorization.roles); };`,
  url: null,
  timeoutMs: 5000,
  secretsSealed: (await ctx.db.selectFrom('actions').select('secrets_sealed').where('id', '=', action.id).executeTakeFirstOrThrow())
    .secrets_sealed,
};
const event = { user: { user_id: 'u', email: 'user0@bench.test', app_metadata: {} }, authorization: { roles: ['USER'] } };
const costs: number[] = [];
for (let i = 0; i < 600; i++) {
  const started = performance.now();
  const run = await engine.execute(bound, 'post-login', event);
  if (run.outcome !== 'ok') throw new Error(`action run: ${run.outcome} ${run.error}`);
  if (i >= 100) costs.push(performance.now() - started);
}

// The p50 cost of the whole dispatch of a sign-in (the event's reads, the run, its record).
const users = await ctx.db.selectFrom('users').select('id').where('email', '=', 'user0@bench.test').executeTakeFirstOrThrow();
const dispatches: number[] = [];
const buildTimes: number[] = [];
for (let i = 0; i < 300; i++) {
  let started = performance.now();
  await engine.event('post-login', { tenantId: tenant.id, userId: users.id, clientId: web.client_id });
  buildTimes.push(performance.now() - started);
  started = performance.now();
  const result = await ctx.actions.run('post-login', { tenantId: tenant.id, userId: users.id, clientId: web.client_id });
  if (result.ran !== 1) throw new Error('the action did not run');
  dispatches.push(performance.now() - started);
}

const none = median(results.none);
const withAction = median(results.bound);
const ratio = withAction / none;
const oihRatio = median(results.oihBound) / median(results.oihNone);
console.log(`Actions (PGlite, ${CONCURRENCY} concurrent, ${ROUNDS} rounds of ${SECONDS} s, medians):`);
console.log(`  password-grant sign-ins/s, nothing bound:        ${none.toFixed(1)}`);
console.log(`  password-grant sign-ins/s, one post-login action: ${withAction.toFixed(1)}`);
console.log(`  ratio ${ratio.toFixed(3)} (bound ≥ 0.9): ${ratio >= 0.9 ? 'ok' : 'BELOW THE BOUND'}`);
console.log(
  `  OIH tokens/s of open sessions (no hashing): none ${median(results.oihNone).toFixed(1)}, one action ${median(results.oihBound).toFixed(1)}, ratio ${oihRatio.toFixed(3)} (no bound)`,
);
console.log(
  `  p50 cost of one action run: ${median(costs).toFixed(2)} ms (p90 ${costs.sort((a, b) => a - b)[Math.floor(costs.length * 0.9)]!.toFixed(2)} ms)`,
);
console.log(
  `  p50 cost of one sign-in's dispatch (event, run, record): ${median(dispatches).toFixed(2)} ms; of the event alone ${median(buildTimes).toFixed(2)} ms`,
);
await app.close();
await ctx.db.destroy();
await ctx.passwords.close();
process.exitCode = ratio >= 0.9 ? 0 : 1;
