import type { CryptoKey, JWK } from 'jose';

/**
 * The signing-key port: declared here because the context carries it (src/platform/context.ts);
 * src/oauth/keys/signing-keys.ts implements it and src/main/gatehouse.ts builds it once.
 */

/** The algorithms Gatehouse holds signing keys for; the first is the default. */
export const SIGNING_ALGS = ['RS256', 'ES256'] as const;
export type SigningKeyAlg = (typeof SIGNING_ALGS)[number];
export const isSigningKeyAlg = (alg: string): alg is SigningKeyAlg => (SIGNING_ALGS as readonly string[]).includes(alg);

export interface SigningKey {
  kid: string;
  alg: SigningKeyAlg;
  privateKey: CryptoKey;
}

/**
 * The signing keys as every part of a node sees them: for each algorithm a `current` key
 * that signs and a `next` key that is published before it ever signs; retired keys stay
 * published until every token they signed has expired (src/oauth/keys/queries.ts). Read
 * from the database and kept for `CACHE_MS` (src/oauth/keys/signing-keys.ts), so every
 * node sees a rotation within that time.
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
