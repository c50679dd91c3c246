/**
 * The seeded random numbers tests and fuzzers use: mulberry32, tiny and good enough to pick splits,
 * mutations and SQL texts. `Math.random` cannot be seeded, and a failure is only useful if the
 * same seed gives the same run again.
 *
 * @module
 */

/**
 * A mulberry32 generator. Methods are bound, so `const pick = rng.int` works.
 *
 * @example
 * ```ts
 * const rng = new SeededRng(42);
 * rng.int(6); // the same number in [0, 6) on every run
 * ```
 */
export class SeededRng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The next uint32. */
  next = (): number => {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  /** A float in [0, 1). */
  float = (): number => this.next() / 4294967296;
  /** An integer in [0, n). */
  int = (n: number): number => this.next() % n;
  /** One element of `items`. */
  pick = <T>(items: readonly T[]): T => items[this.int(items.length)];
  /** True with probability `p`. */
  chance = (p: number): boolean => this.float() < p;
}

/**
 * Floats in [0, 1) from `seed`, as a function: `new SeededRng(seed).float`.
 *
 * @example
 * ```ts
 * const random = seededRandom(7);
 * const length = 1 + Math.floor(random() * 600);
 * ```
 */
export function seededRandom(seed: number): () => number {
  return new SeededRng(seed).float;
}

/**
 * The seed in env `name` when set (to replay a failure), else a fresh random one, which the caller
 * prints so that a failing run can be replayed.
 *
 * @example
 * ```ts
 * const SEED = seedFrom("CLAWPATROL_CRASH_SEED");
 * ```
 */
export function seedFrom(name: string): number {
  const given = Deno.env.get(name);
  if (given !== undefined && given !== "") {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`${name} must be a whole number`);
    return seed;
  }
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
