/**
 * Compiled response scrubbers, kept by owner (an endpoint, an `aws_credential`) and the secret
 * values they were compiled for.
 *
 * An owner can see more than one value set in turn: two agents whose profiles hold different
 * credentials on one endpoint, an access token needed by one request and not the next, an
 * assumed role per agent. Keeping one set per owner compiled the forms again on every switch
 * (~240 µs each, `bench/scrub_bench.ts`), so a few sets are kept per owner, the most recently
 * used first.
 *
 * The sets hold secret values, so none outlives the secret cache's idle limit: a set not used
 * for that long is dropped at the owner's next lookup, and the owner of the cache empties it
 * whenever the secret cache forgets a value.
 *
 * @module
 */

import type { Scrubber } from "../credentials/mod.ts";

/** Value sets kept per owner; more are compiled again when they come back. */
export const SETS_PER_OWNER = 4;

interface Compiled {
  values: readonly (string | null)[];
  scrubber: Scrubber | null;
  usedAt: number;
}

/** Options of {@linkcode CompiledScrubbers}. */
export interface CompiledScrubbersOptions {
  /** How long a value set may go unused before it is dropped (the secret cache's idle limit). */
  idleMs: number;
  /** The clock, in milliseconds (tests). */
  now?: () => number;
}

/** Scrubbers by owner and value set, a few per owner, none kept past the idle limit. */
export class CompiledScrubbers {
  readonly #byOwner = new Map<string, Compiled[]>();
  readonly #idleMs: number;
  readonly #now: () => number;
  #compiles = 0;

  constructor(options: CompiledScrubbersOptions) {
    this.#idleMs = options.idleMs;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * The scrubber `owner`'s responses get for `values`, compiled by `compile` only when this
   * set is not kept. `values` are compared by position, so an owner must list them in one order.
   */
  get(
    owner: string,
    values: readonly (string | null)[],
    compile: () => Scrubber | null,
  ): Scrubber | null {
    const now = this.#now();
    let sets = this.#byOwner.get(owner);
    if (sets === undefined) {
      this.#byOwner.set(owner, sets = []);
    } else {
      // Most recently used first: the sets past the limit are at the end.
      while (sets.length > 0 && now - sets[sets.length - 1].usedAt >= this.#idleMs) sets.pop();
      for (let i = 0; i < sets.length; i++) {
        const set = sets[i];
        if (!sameValues(set.values, values)) continue;
        set.usedAt = now;
        if (i > 0) {
          sets.splice(i, 1);
          sets.unshift(set);
        }
        return set.scrubber;
      }
    }
    const scrubber = compile();
    this.#compiles++;
    sets.unshift({ values: [...values], scrubber, usedAt: now });
    if (sets.length > SETS_PER_OWNER) sets.length = SETS_PER_OWNER;
    return scrubber;
  }

  /** Drops every value set (the secret cache forgot a value, or the config was replaced). */
  clear(): void {
    this.#byOwner.clear();
  }

  /** Value sets held, over all owners (tests). */
  get size(): number {
    let n = 0;
    for (const sets of this.#byOwner.values()) n += sets.length;
    return n;
  }

  /** Scrubbers compiled so far (tests). */
  get compiles(): number {
    return this.#compiles;
  }
}

function sameValues(a: readonly (string | null)[], b: readonly (string | null)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
