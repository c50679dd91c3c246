/**
 * The LLM judge's verdict cache: a request with a fingerprint the judge decided recently gets
 * the same verdict without another model call. Bounded, least recently used out first.
 *
 * @module
 */

import type { LlmVerdict } from "./_llm_prompt.ts";

/** Options for {@linkcode VerdictCache}. */
export interface VerdictCacheOptions {
  /** How long a verdict stands; `0` disables the cache. */
  ttlMs: number;
  /** Most verdicts kept. @default {1000} */
  maxEntries?: number;
  /** Clock, for tests. @default {Date.now} */
  now?: () => number;
}

/**
 * Verdicts by key (an approval request's fingerprint). Only clear answers go in: a failure or an
 * unclear reply must be asked again, never remembered.
 *
 * @example
 * ```ts
 * const cache = new VerdictCache({ ttlMs: 300_000 });
 * cache.set(request.fingerprint, { decision: "deny", reason: "drops a table" });
 * cache.get(request.fingerprint); // { decision: "deny", … } for the next five minutes
 * ```
 */
export class VerdictCache {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** Map order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, { verdict: LlmVerdict; expires: number }>();

  constructor(options: VerdictCacheOptions) {
    this.#ttlMs = Math.max(0, options.ttlMs);
    this.#max = Math.max(1, options.maxEntries ?? 1000);
    this.#now = options.now ?? Date.now;
  }

  /** Number of verdicts held (expired ones included until touched or pushed out). */
  get size(): number {
    return this.#entries.size;
  }

  /** The verdict for `key`, if one is fresh. */
  get(key: string): LlmVerdict | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.verdict;
  }

  /** Remembers `verdict` for `key` (no-op when the TTL is 0). */
  set(key: string, verdict: LlmVerdict): void {
    if (this.#ttlMs === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { verdict, expires: this.#now() + this.#ttlMs });
    while (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }
}
