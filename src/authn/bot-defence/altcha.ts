import { createHmac } from 'node:crypto';
import { type Challenge, createChallenge, verifySolution } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import type { AppContext } from '../../platform/context.js';
import { sha256 } from '../../platform/crypto/secrets.js';
import { isUniqueViolation } from '../../platform/db/database.js';

/**
 * ALTCHA, the default provider (decision 371): a proof of work made and checked by
 * Gatehouse itself with `altcha-lib`, no third party, no tracking, no network. A challenge
 * is signed with an HMAC key derived from the master key (so every node checks every
 * node's challenges, and nobody without the key can make one), names the tenant and the
 * step it was made for, and expires; a solution is spent once across every node by its
 * challenge's digest in `challenge_solutions` (decision 373).
 */

/** Where Gatehouse serves the ALTCHA widget, its worker and its stylesheet (routes.ts). */
export const ALTCHA_ASSETS = '/assets/altcha';

/** The one key-derivation function a challenge may use: the widget bundles it and it runs in WebCrypto. */
const ALGORITHM = 'PBKDF2/SHA-256';
/** A hex prefix of one byte: about 256 attempts on average, each `altcha_cost` PBKDF2 iterations. */
const KEY_PREFIX = '00';
/** How long a challenge may be solved and sent: a page left open this long asks again. */
export const ALTCHA_TTL_SECONDS = 600;
/** The most a payload may weigh (base64 of a small JSON object); anything longer is refused unparsed. */
const MAX_PAYLOAD = 4096;

const keys = new WeakMap<Buffer, string>();

/** The HMAC key of ALTCHA challenges, derived from the master key (never the master key itself). */
function hmacKey(masterKey: Buffer): string {
  let key = keys.get(masterKey);
  if (!key) {
    key = createHmac('sha256', masterKey).update('altcha-challenge-hmac', 'utf8').digest('base64url');
    keys.set(masterKey, key);
  }
  return key;
}

export interface ChallengeScope {
  tenantId: string;
  action: string;
}

/** A fresh challenge for one tenant's step, valid ALTCHA_TTL_SECONDS (the widget's `challenge` and the 428's body). */
export function altchaChallenge(ctx: AppContext, scope: ChallengeScope, cost: number): Promise<Challenge> {
  // altcha-lib checks expiry against the wall clock, so the wall clock sets it too.
  return createChallenge({
    algorithm: ALGORITHM,
    cost,
    deriveKey,
    keyPrefix: KEY_PREFIX,
    expiresAt: Math.floor(Date.now() / 1000) + ALTCHA_TTL_SECONDS,
    hmacSignatureSecret: hmacKey(ctx.masterKey),
    data: { tenant: scope.tenantId, action: scope.action },
  });
}

export type AltchaOutcome = 'verified' | 'malformed' | 'invalid' | 'expired' | 'wrong_scope' | 'replayed';

interface AltchaPayload {
  challenge: Challenge;
  solution: { counter: number; derivedKey: string; time?: number };
}

/** The widget's payload (base64 of JSON `{challenge, solution}`), or undefined when it is not one. */
function parsePayload(value: string): AltchaPayload | undefined {
  if (value.length > MAX_PAYLOAD || !/^[A-Za-z0-9+/=_-]+$/.test(value)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  const payload = parsed as Partial<AltchaPayload> | null;
  const parameters = payload?.challenge?.parameters;
  const solution = payload?.solution;
  if (!parameters || typeof parameters !== 'object' || typeof payload?.challenge?.signature !== 'string') return undefined;
  if (!solution || !Number.isInteger(solution.counter) || typeof solution.derivedKey !== 'string') return undefined;
  if (parameters.algorithm !== ALGORITHM || typeof parameters.cost !== 'number' || typeof parameters.expiresAt !== 'number')
    return undefined;
  return payload as AltchaPayload;
}

/**
 * Checks a solution: our signature (so the cost and the expiry are ours), the scope it was
 * made for, the work, and then spends it. The signature is checked before the one key
 * derivation the work costs, so a forged payload costs nothing.
 */
export async function verifyAltcha(ctx: AppContext, scope: ChallengeScope, value: string): Promise<AltchaOutcome> {
  const payload = parsePayload(value);
  if (!payload) return 'malformed';
  let result: Awaited<ReturnType<typeof verifySolution>>;
  try {
    result = await verifySolution({
      challenge: payload.challenge,
      solution: payload.solution,
      deriveKey,
      hmacSignatureSecret: hmacKey(ctx.masterKey),
    });
  } catch {
    return 'malformed';
  }
  if (result.expired) return 'expired';
  if (!result.verified) return 'invalid';
  const data = payload.challenge.parameters.data ?? {};
  if (data.tenant !== scope.tenantId || data.action !== scope.action) return 'wrong_scope';
  const expiresAt = new Date((payload.challenge.parameters.expiresAt as number) * 1000);
  return (await spend(ctx, `altcha:${payload.challenge.signature}`, expiresAt)) ? 'verified' : 'replayed';
}

/**
 * Spends a solution once across every node: its digest is inserted, and a second insert
 * of the same digest (a replay, on any node) fails on the primary key. Kept until the
 * challenge would have expired anyway, then pruned.
 */
export async function spend(ctx: AppContext, solution: string, expiresAt: Date): Promise<boolean> {
  try {
    await ctx.db
      .insertInto('challenge_solutions')
      .values({ digest: sha256(solution).toString('base64url'), expires_at: expiresAt })
      .execute();
    return true;
  } catch (error) {
    if (isUniqueViolation(error, 'challenge_solutions_pkey')) return false;
    throw error;
  }
}
