/**
 * In-process caches are short-lived (docs/architecture.md#nodes-and-caches): what one node keeps, another node's
 * change overrides within the cache's lifetime.
 */
const MAX_ENTRIES = 10_000;
/** Longer keys (no real client id or identifier is this long) are read, never kept. */
const MAX_KEY_LENGTH = 256;

/** A small time-bounded cache of promises: concurrent misses share one read. */
export class ShortCache<V> {
  private readonly entries = new Map<string, { at: number; value: Promise<V> }>();

  constructor(private readonly ttlMs: number) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    if (key.length > MAX_KEY_LENGTH) return load();
    const now = performance.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load();
    this.entries.set(key, { at: now, value });
    value.catch(() => this.entries.delete(key));
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }

  /** Forgets a key (this node's own change takes effect at once). */
  delete(key: string): void {
    this.entries.delete(key);
  }
}
