/**
 * A small least-recently-used map. Private helper of `sql_facts.ts`.
 *
 * @module
 */

/**
 * Fixed-capacity LRU map built on `Map`'s insertion order: the oldest key is always the first
 * one, and eviction is `O(1)`. A hit moves its key to the newest end only once the key has
 * fallen into the older half (more than half the capacity inserted or moved since): moving is a
 * delete and an insert, and most hits land on keys used recently, so this "second chance"
 * keeps the order close to LRU for a fraction of the work. A key hit at all before it reaches
 * the oldest end is never evicted.
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
  readonly #map = new Map<K, Entry<V>>();
  readonly #capacity: number;
  /** Counts inserts and moves: an entry's age is how many happened since its own. */
  #clock = 0;

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

  /** The value for `key`, marking it recently used; `undefined` when absent. */
  get(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    if (this.#clock - entry.at >= this.#capacity / 2) {
      this.#map.delete(key);
      this.#map.set(key, entry);
      entry.at = ++this.#clock;
    }
    return entry.value;
  }

  /** True when `key` is held (does not change recency). */
  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Stores `value` as the most recent entry, evicting the least recent ones over capacity. */
  set(key: K, value: V): void {
    if (this.#capacity === 0) return;
    this.#map.delete(key);
    this.#map.set(key, { value, at: ++this.#clock });
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

/** A value and when it was last inserted or moved (the LRU's clock). */
interface Entry<V> {
  readonly value: V;
  at: number;
}
