import type { ChangeFeed, ChangeTopic } from './db/change-feed.js';

/**
 * In-process caches are dropped on every node when what they hold changes
 * (docs/architecture.md#nodes-and-caches): a cache given a change feed and the topics it
 * depends on forgets everything as soon as any node commits a change to one of them, and
 * serves nothing while the feed is not live. Its lifetime is then only a fallback, for a
 * notification a silently broken connection lost before the heartbeat noticed.
 */
const MAX_ENTRIES = 10_000;
/** Longer keys (no real client id or identifier is this long) are read, never kept. */
const MAX_KEY_LENGTH = 256;

export interface CacheInvalidation {
  feed: ChangeFeed;
  topics: readonly ChangeTopic[];
}

/** A small time-bounded cache of promises: concurrent misses share one read. */
export class ShortCache<V> {
  private readonly entries = new Map<string, { at: number; generation: number; value: Promise<V> }>();
  /** Bumped by every drop: a read begun before a drop is never kept after it (nor a "none" it found). */
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly invalidation?: CacheInvalidation,
  ) {
    invalidation?.feed.subscribe(invalidation.topics, () => this.clear());
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    if (key.length > MAX_KEY_LENGTH) return load();
    if (this.invalidation && !this.invalidation.feed.live) return load();
    const now = performance.now();
    const hit = this.entries.get(key);
    if (hit && hit.generation === this.generation && now - hit.at < this.ttlMs) return hit.value;
    const entry = { at: now, generation: this.generation, value: load() };
    this.entries.set(key, entry);
    entry.value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    return entry.value;
  }

  /** Forgets a key (this node's own change takes effect at once). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets everything, including reads still under way. */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}
