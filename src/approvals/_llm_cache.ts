/**
 * The LLM judge's verdict cache: a request with a fingerprint the judge decided recently gets
 * the same verdict without another model call. Bounded, least recently used out first. With a
 * shared store the judge also consults a {@linkcode SharedVerdictCache}, so a verdict given on
 * one gateway is reused on the others.
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

/**
 * The verdict cache every gateway of a shared store reads (`gateway.store`), consulted after the
 * in-process one. A failing store is never a verdict: `get` rejects and the judge asks the model;
 * `set` never rejects (its failures are logged by the store, once).
 */
export interface SharedVerdictCache {
  /** A verdict written less than `ttlMs` ago and not expired; rejects when the store fails. */
  get(key: string, ttlMs: number): Promise<LlmVerdict | undefined>;
  set(key: string, verdict: LlmVerdict, ttlMs: number): Promise<void>;
}

/**
 * The shared cache's key for a request judged by one judge: its fingerprint with everything else
 * the verdict depends on (approver, provider, model, endpoint and policy), hashed, so a changed
 * policy or another judge never reuses a verdict it did not give.
 *
 * @example
 * ```ts
 * const key = await sharedVerdictKey([ref, provider, model, baseUrl, policy], fingerprint);
 * ```
 */
export async function sharedVerdictKey(
  judge: readonly (string | undefined)[],
  fingerprint: string,
): Promise<string> {
  const text = JSON.stringify([...judge.map((part) => part ?? null), fingerprint]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
