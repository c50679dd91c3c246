/**
 * A small least-recently-used map. Private helper of `sql_facts.ts`.
 *
 * @module
 */

/**
 * Fixed-capacity LRU map built on `Map`'s insertion order: a hit re-inserts the key so the
 * oldest key is always the first one, and eviction is `O(1)`.
 *
 * @example
 * ```ts
 * const lru = new Lru<string, number>(2);
 * lru.set("a", 1);
 * lru.set("b", 2);
 * lru.get("a"); // 1, and "a" is now the most recent
 * lru.set("c", 3); // evicts "b"
 * ```
 */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  readonly #capacity: number;

  /** @param capacity maximum number of entries; 0 disables caching. */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`LRU capacity must be a non-negative integer, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  /** Number of entries held. */
  get size(): number {
    return this.#map.size;
  }

  /** Maximum number of entries. */
  get capacity(): number {
    return this.#capacity;
  }

  /** The value for `key`, marking it most recently used; `undefined` when absent. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    // Re-insert so the key moves to the end of the iteration order (most recent).
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** True when `key` is held (does not change recency). */
  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Stores `value` as the most recent entry, evicting the least recent ones over capacity. */
  set(key: K, value: V): void {
    if (this.#capacity === 0) return;
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.#capacity) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
    }
  }

  /** Drops every entry. */
  clear(): void {
    this.#map.clear();
  }
}
