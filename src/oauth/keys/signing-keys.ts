import { createHash } from 'node:crypto';
import { type CryptoKey, importJWK, type JWK } from 'jose';
import { unseal } from '../../platform/crypto/secrets.js';
import type { ChangeFeed } from '../../platform/db/change-feed.js';
import type { Db } from '../../platform/db/database.js';
import { type Clock, systemClock } from '../../platform/ids.js';
import { isSigningKeyAlg, type KeyStore, SIGNING_ALGS, type SigningKey, type SigningKeyAlg } from '../../platform/ports/signing-keys.js';
import { publishedKeyRows } from './queries.js';

/**
 * The JWKS's `Cache-Control: max-age` (seconds), and @gatehouse/sdk's default `cacheMaxAge`:
 * a withdrawn key (`retire_now`) is refused by resource servers within this time, as every
 * node drops it at once (docs/operations.md#signing-keys).
 */
export const JWKS_MAX_AGE_S = 30;
/** Binds a sealed private key to its use and its kid (crypto/secrets.ts seal). */
export const SEAL_CONTEXT = 'gatehouse:signing-key';
/**
 * How long a node keeps its copy of the key set at most. Any node's rotation drops it on
 * every node at the commit (the change feed); this lifetime is the fallback, and the clock
 * by which a retired key leaves the published set (queries.ts).
 */
export const CACHE_MS = 30_000;

interface KeySet {
  current: Map<SigningKeyAlg, SigningKey>;
  jwks: { keys: JWK[] };
  privateJwks: { version: string; keys: JWK[] };
}

const STATUS_ORDER = { current: 0, next: 1, retired: 2 } as const;

/** The key store of a node; with `changes`, a change to `signing_keys` on any node drops its copy, and nothing is kept while the feed is down. */
export function createKeyStore(db: Db, masterKey: Buffer, clock: Clock = systemClock, changes?: ChangeFeed): KeyStore {
  // The promise is cached, so concurrent callers share one read.
  let cached: { at: number; set: Promise<KeySet> } | undefined;
  changes?.subscribe(['signing_keys'], () => {
    cached = undefined;
  });

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
    if (changes && !changes.live) return read(now);
    if (cached && at >= cached.at && at - cached.at < CACHE_MS) return cached.set;
    const entry = { at, set: read(now) };
    // Set before the read ends: a drop meanwhile discards this read too (it may predate the change).
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
