/**
 * `npm run bench`: access-token verifications per second through the SDK's verifier
 * (remote JWKS, cached) beside bare `jose.jwtVerify` with the same public key and token,
 * measured in the same run with the same concurrency. Target (DESIGN §8): ratio ≥ 0.9.
 * Also prints the process CPU time per verification (verification runs on libuv's pool).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { createRemoteJWKSet, exportJWK, generateKeyPair, importJWK, type JWTVerifyOptions, jwtVerify, SignJWT } from 'jose';
import { createVerifier } from '../packages/sdk/src/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SLICE_MS = 200;
const cores = availableParallelism();
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? cores * 2);

interface Tally {
  done: number;
  ms: number;
  cpuMs: number;
}

/** Runs `task` with `parallel` in flight for `ms`; adds completions, wall time and process CPU time to `tally`. */
async function slice(parallel: number, ms: number, task: () => Promise<unknown>, tally: Tally): Promise<void> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < deadline) {
        await task();
        tally.done++;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  tally.ms += performance.now() - start;
  tally.cpuMs += (used.user + used.system) / 1000;
}

// A Gatehouse-like issuer: one RS256 key (2048 bits, as Gatehouse generates), published as a JWKS over HTTP.
const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const kid = 'bench-key';
const publishedJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
const jwks = JSON.stringify({ keys: [publishedJwk] });
// The bare baseline holds the key as a resource server would: imported from the published JWK.
const bareKey = await importJWK(publishedJwk, 'RS256');
let jwksRequests = 0;
const server = createServer((_req, res) => {
  jwksRequests++;
  res.setHeader('content-type', 'application/json');
  res.end(jwks);
}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const audience = issuer;

// A token shaped like one of the OIH flow.
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({
  sub: '0190c3d2-7a4e-7b1c-9f00-000000000001',
  sid: '0190c3d2-7a4e-7b1c-9f00-000000000002',
  client_id: 'gatehouse',
  org_id: '0190c3d2-7a4e-7b1c-9f00-000000000003',
  org_name: 'Acme Inc.',
  roles: ['TENANT_ADMIN'],
  permissions: ['tenant.all', 'tenant.profile.read', 'read:invoices'],
  email: 'jane@acme.example',
  name: 'Jane Doe',
})
  .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
  .setIssuer(issuer)
  .setAudience(audience)
  .setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .setJti('bench')
  .sign(privateKey);

const joseOptions: JWTVerifyOptions = { issuer, audience, algorithms: ['RS256'] };
const sdk = createVerifier({ issuer, audience });
const joseRemote = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
let failures = 0;
const tasks = {
  bare: () => jwtVerify(token, bareKey, joseOptions).catch(() => failures++),
  sdk: () => sdk.verify(token).catch(() => failures++),
  joseJwks: () => jwtVerify(token, joseRemote, joseOptions).catch(() => failures++),
};

try {
  // Warm up (JIT, the JWKS fetch, jose's imported-key cache).
  for (const task of Object.values(tasks)) for (let i = 0; i < 200; i++) await task();

  // Short slices, taken in turn (and in a rotating order), for SECONDS each: load from
  // other processes on a shared machine then weighs on each measurement alike.
  const names = Object.keys(tasks) as (keyof typeof tasks)[];
  const tallies = Object.fromEntries(names.map((name) => [name, { done: 0, ms: 0, cpuMs: 0 }])) as Record<keyof typeof tasks, Tally>;
  const slices = Math.ceil((SECONDS * 1000) / SLICE_MS);
  for (let i = 0; i < slices; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length]!;
      await slice(concurrency, SLICE_MS, tasks[name], tallies[name]);
    }
  }

  const perSecond = (t: Tally) => (t.done * 1000) / t.ms;
  const cpuUs = (t: Tally) => ((t.cpuMs * 1000) / t.done).toFixed(1);
  const line = (label: string, t: Tally) => `${label.padEnd(56)} ${perSecond(t).toFixed(0).padStart(6)}/s, ${cpuUs(t)} µs CPU each`;
  const ratio = perSecond(tallies.sdk) / perSecond(tallies.bare);
  console.log(
    `cores: ${cores}; ${SECONDS}s per measurement in ${SLICE_MS} ms slices taken in turn; concurrency ${concurrency}; RS256, 2048-bit key`,
  );
  console.log(line('bare jose.jwtVerify (the public key, imported once):', tallies.bare));
  console.log(line('@gatehouse/sdk verify (remote JWKS, cached):', tallies.sdk));
  console.log(line('for reference, jose.jwtVerify with createRemoteJWKSet:', tallies.joseJwks));
  console.log(`ratio SDK / bare jose.jwtVerify: ${ratio.toFixed(3)} (target >= 0.9: ${ratio >= 0.9 ? 'met' : 'NOT met'})`);
  console.log(`JWKS fetches during the run: ${jwksRequests} (one per key set: it stays cached)`);
  if (failures > 0) {
    console.log(`${failures} verifications failed`);
    process.exitCode = 1;
  }
} finally {
  server.close();
}
