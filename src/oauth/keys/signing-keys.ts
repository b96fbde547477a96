import { createHash } from 'node:crypto';
import { type CryptoKey, importJWK, type JWK } from 'jose';
import { unseal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { type Clock, systemClock } from '../../platform/ids.js';
import { publishedKeyRows } from './queries.js';

/** The algorithms Gatehouse holds signing keys for; the first is the default. */
export const SIGNING_ALGS = ['RS256', 'ES256'] as const;
export type SigningKeyAlg = (typeof SIGNING_ALGS)[number];
export const isSigningKeyAlg = (alg: string): alg is SigningKeyAlg => (SIGNING_ALGS as readonly string[]).includes(alg);

/** Binds a sealed private key to its use and its kid (crypto/secrets.ts seal). */
export const SEAL_CONTEXT = 'gatehouse:signing-key';
/** How long a node trusts its in-memory copy of the key set before reading it again. */
export const CACHE_MS = 30_000;

export interface SigningKey {
  kid: string;
  alg: SigningKeyAlg;
  privateKey: CryptoKey;
}

/**
 * The signing keys as every part of a node sees them: for each algorithm a `current` key
 * that signs and a `next` key that is published before it ever signs; retired keys stay
 * published until every token they signed has expired (keys/queries.ts). Read from the
 * database and kept for `CACHE_MS`, so every node sees a rotation within that time.
 */
export interface KeyStore {
  /** current(alg) — the key new tokens of that algorithm are signed with (default 'RS256'). */
  current(alg?: SigningKeyAlg): Promise<SigningKey>;
  /** The public JWK Set: next + current + still-published retired keys, i.e. every key a token in circulation may be signed with. */
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * Private JWKs (with kid, alg, use:'sig') for the protocol engine: every current key first,
   * then retired keys still published (for verifying e.g. id_token_hint). Never `next` keys.
   * `version` is a string that changes whenever this set changes. Do not mutate the result.
   */
  privateJwks(): Promise<{ version: string; keys: JWK[] }>;
  /** Drop the cached copy so the next call reads the database. */
  invalidate(): void;
}

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
