import {
  type CryptoKey,
  createRemoteJWKSet,
  type JWKSCacheInput,
  type JWSHeaderParameters,
  jwksCache,
  type RemoteJWKSetOptions,
} from 'jose';

/**
 * Gatehouse's JWKS, fetched and cached by jose's `createRemoteJWKSet`, which decides every
 * fetch: the first use, `cacheMaxAge` after the last fetch, and an unknown `kid`, at most
 * once per `cooldownDuration` (concurrent misses share one request).
 *
 * On top of it, the keys already resolved from the set jose holds now are kept by `alg` and
 * `kid`, so a verification hands jose a key rather than a resolver: resolving through the
 * set on every call costs about a tenth of an RS256 verification. A kept key is used only
 * while that same set is current and fresh (jose's `jwksCache` object tells which set it
 * applied last), so a key removed from the JWKS stops working with the next fetch, as
 * with jose alone.
 */
export interface KeySet {
  /** The key for a token's protected header: kept (returned at once), or resolved (and fetched if need be) by jose. */
  key(header: JWSHeaderParameters): CryptoKey | Promise<CryptoKey>;
}

export function createKeySet(url: URL, options: Pick<RemoteJWKSetOptions, 'cacheMaxAge' | 'cooldownDuration' | 'timeoutDuration'>): KeySet {
  // jose writes { jwks, uat } here each time it applies a fetched set, in the same step as it switches to it.
  const applied: JWKSCacheInput = {};
  const remote = createRemoteJWKSet(url, { ...options, [jwksCache]: applied });
  let keptFor: unknown;
  const kept = new Map<string, CryptoKey>();

  async function resolve(id: string, header: JWSHeaderParameters): Promise<CryptoKey> {
    const current = applied.jwks;
    const key = await remote(header);
    // Keep it only if no fetch was applied meanwhile: then it surely comes from the current set.
    if (applied.jwks !== undefined && applied.jwks === current) {
      if (keptFor !== current) {
        kept.clear();
        keptFor = current;
      }
      kept.set(id, key);
    }
    return key;
  }

  return {
    key(header) {
      const id = `${header.alg} ${header.kid}`;
      if (applied.jwks !== undefined && applied.jwks === keptFor && remote.fresh) {
        const key = kept.get(id);
        if (key) return key;
      }
      return resolve(id, header);
    },
  };
}
