/**
 * A cache of minted leaf certificates, so each host costs one mint (a few milliseconds of key
 * generation and signing) however many agents connect to it at once.
 *
 * @module
 */

import type { GatewayCa } from "./ca.ts";
import { type LeafCertificate, mintLeaf } from "./leaf.ts";

/** Options for {@linkcode LeafCache}. */
export interface LeafCacheOptions {
  /** Hosts kept; the least recently used is dropped past it. @default {10_000} */
  maxEntries?: number;
  /** Re-mint a leaf this long before it expires. @default {86_400_000} (one day) */
  renewBeforeMs?: number;
  /** The clock, for tests. */
  now?: () => Date;
  /** The minting function, for tests. @default {mintLeaf} */
  mint?: (ca: GatewayCa, host: string) => Promise<LeafCertificate>;
}

/**
 * Per-host leaf certificates, minted on first use. Concurrent requests for one host share a
 * single mint; a failed mint is not cached, so the next request tries again.
 *
 * @example
 * ```ts
 * const leaves = new LeafCache(await loadGatewayCa("./state"));
 * const { certPem, keyPem } = await leaves.get("api.github.com");
 * ```
 */
export class LeafCache {
  readonly #ca: GatewayCa;
  readonly #entries = new Map<string, Promise<LeafCertificate>>();
  readonly #maxEntries: number;
  readonly #renewBeforeMs: number;
  readonly #now: () => Date;
  readonly #mint: (ca: GatewayCa, host: string) => Promise<LeafCertificate>;
  #mints = 0;

  constructor(ca: GatewayCa, options: LeafCacheOptions = {}) {
    this.#ca = ca;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#renewBeforeMs = options.renewBeforeMs ?? 86_400_000;
    this.#now = options.now ?? (() => new Date());
    this.#mint = options.mint ?? mintLeaf;
  }

  /** Leaves minted so far (cache misses). */
  get mints(): number {
    return this.#mints;
  }

  /** The leaf for `host` (case-insensitive), minting it when missing or close to expiry. */
  async get(host: string): Promise<LeafCertificate> {
    const key = host.toLowerCase();
    const cached = this.#entries.get(key);
    if (cached) {
      // Map order is insertion order: re-inserting marks the entry most recently used.
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      const leaf = await cached;
      if (leaf.notAfter.getTime() - this.#now().getTime() > this.#renewBeforeMs) return leaf;
      if (this.#entries.get(key) === cached) this.#entries.delete(key);
      return this.get(key);
    }
    this.#mints++;
    const minting = this.#mint(this.#ca, key);
    this.#entries.set(key, minting);
    while (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    try {
      return await minting;
    } catch (err) {
      if (this.#entries.get(key) === minting) this.#entries.delete(key);
      throw err;
    }
  }
}
