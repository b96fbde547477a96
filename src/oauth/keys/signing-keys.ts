import { createHash } from 'node:crypto';
import { type CryptoKey, importJWK, type JWK } from 'jose';
import { unseal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { type Clock, systemClock } from '../../platform/ids.js';
import { isSigningKeyAlg, type KeyStore, SIGNING_ALGS, type SigningKey, type SigningKeyAlg } from '../../platform/ports/signing-keys.js';
import { publishedKeyRows } from './queries.js';

/** Binds a sealed private key to its use and its kid (crypto/secrets.ts seal). */
export const SEAL_CONTEXT = 'gatehouse:signing-key';
/** How long a node trusts its in-memory copy of the key set before reading it again. */
export const CACHE_MS = 30_000;

interface KeySet {
  current: Map<SigningKeyAlg, SigningKey>;
  jwks: { keys: JWK[] };
  privateJwks: { version: string; keys: JWK[] };
}

const STATUS_ORDER = { current: 0, next: 1, retired: 2 } as const;

export function createKeyStore(db: Db, masterKey: Buffer, clock: Clock = systemClock): KeyStore {
  // The promise is cached, so concurrent callers share one read.
  let cached: { at: number; set: Promise<KeySet> } | undefined;

  async function read(now: Date): Promise<KeySet> {
    const rows = (await publishedKeyRows(db, now))
      .filter((row) => isSigningKeyAlg(row.alg))
      .sort(
        (a, b) =>
          STATUS_ORDER[a.status] - STATUS_ORDER[b.status] ||
          SIGNING_ALGS.indexOf(a.alg as SigningKeyAlg) - SIGNING_ALGS.indexOf(b.alg as SigningKeyAlg) ||
          (b.retired_at?.getTime() ?? 0) - (a.retired_at?.getTime() ?? 0),
      );
    const current = new Map<SigningKeyAlg, SigningKey>();
    const privateKeys: JWK[] = [];
    for (const row of rows) {
      if (row.status === 'next') continue;
      const jwk = JSON.parse(unseal(masterKey, row.private_jwk_sealed, `${SEAL_CONTEXT}:${row.kid}`)) as JWK;
      privateKeys.push(jwk);
      if (row.status === 'current') {
        const alg = row.alg as SigningKeyAlg;
        current.set(alg, { kid: row.kid, alg, privateKey: (await importJWK(jwk, alg)) as CryptoKey });
      }
    }
    const version = createHash('sha256')
      .update(privateKeys.map((key) => key.kid).join(','))
      .digest('base64url')
      .slice(0, 16);
    return { current, jwks: { keys: rows.map((row) => row.public_jwk as JWK) }, privateJwks: { version, keys: privateKeys } };
  }

  function load(): Promise<KeySet> {
    const now = clock.now();
    const at = now.getTime();
    if (cached && at >= cached.at && at - cached.at < CACHE_MS) return cached.set;
    const entry = { at, set: read(now) };
    cached = entry;
    entry.set.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return entry.set;
  }

  return {
    async current(alg = 'RS256') {
      const key = (await load()).current.get(alg);
      if (!key) throw new Error(`No current ${alg} signing key: start the server once to create it`);
      return key;
    },
    jwks: async () => (await load()).jwks,
    privateJwks: async () => (await load()).privateJwks,
    invalidate() {
      cached = undefined;
    },
  };
}
