/**
 * Bot defence's ALTCHA proof of work at the default cost (decision 371): the time a solver
 * takes (altcha-lib's own solver in Node, one thread: a browser's widget runs the same
 * PBKDF2 in WebCrypto workers) beside the bound a person waits for at most, and the time the
 * server spends checking one solution beside the bound of a cheap check (it must stay far
 * below one password verification, ~50 ms, or the challenge would be a denial-of-service lever).
 */
import { createChallenge, solveChallenge, verifySolution } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';

const COST = Number(process.env.ALTCHA_COST ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const SOLVE_BOUND_MS = 2000;
const VERIFY_BOUND_MS = 5;
const secret = 'bench-hmac-secret';

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

const solves: number[] = [];
const verifies: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const challenge = await createChallenge({
    algorithm: 'PBKDF2/SHA-256',
    cost: COST,
    deriveKey,
    keyPrefix: '00',
    expiresAt: Math.floor(Date.now() / 1000) + 600,
    hmacSignatureSecret: secret,
  });
  let start = performance.now();
  const solution = await solveChallenge({ challenge, deriveKey });
  solves.push(performance.now() - start);
  if (!solution) throw new Error('no solution');
  start = performance.now();
  const result = await verifySolution({ challenge, solution, deriveKey, hmacSignatureSecret: secret });
  verifies.push(performance.now() - start);
  if (!result.verified) throw new Error('not verified');
}

const line = (name: string, values: number[], bound: number) => {
  const p50 = percentile(values, 0.5);
  const p95 = percentile(values, 0.95);
  console.log(`${name}: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (bound p50 ≤ ${bound} ms) ${p50 <= bound ? 'ok' : 'OVER'}`);
  return p50 <= bound;
};
console.log(`ALTCHA PBKDF2/SHA-256, cost ${COST}, key prefix 00, ${RUNS} challenges`);
const ok = [line('solve (one thread)', solves, SOLVE_BOUND_MS), line('verify (server)', verifies, VERIFY_BOUND_MS)].every(Boolean);
if (!ok) process.exitCode = 1;
