/**
 * The `jti`s of accepted DPoP proofs, each kept while its proof could still pass the `iat`
 * check (`iat + window`), in memory and bounded. When full of live entries, the oldest is
 * dropped and the cache raises a floor to its `iat`: from then on a proof issued at or
 * before the floor is refused as possibly replayed, since its `jti` may be the one
 * forgotten. So an overflow refuses some honest proofs (their clients retry with a fresh
 * one) and never lets a replay through.
 */
export interface ReplayCache {
  /** Records `id`; false when it was seen already (or may have been: at or before the floor). */
  use(id: string, iat: number, now: number): boolean;
  readonly size: number;
}

export function createReplayCache(maxEntries: number, windowS: number): ReplayCache {
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new TypeError('createVerifier: "dpop.replayCacheSize" must be a positive integer');
  // Insertion order is close to expiry order (iat is near now), so expired entries are found at the front.
  const entries = new Map<string, { iat: number; expires: number }>();
  let floor = Number.NEGATIVE_INFINITY;
  return {
    use(id, iat, now) {
      if (iat <= floor) return false;
      for (const [key, entry] of entries) {
        if (entry.expires >= now) break;
        entries.delete(key);
      }
      if (entries.has(id)) return false;
      if (entries.size >= maxEntries) {
        const [oldest, entry] = entries.entries().next().value as [string, { iat: number }];
        entries.delete(oldest);
        floor = Math.max(floor, entry.iat);
        if (iat <= floor) return false;
      }
      entries.set(id, { iat, expires: iat + windowS });
      return true;
    },
    get size() {
      return entries.size;
    },
  };
}
