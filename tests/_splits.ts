/**
 * Cutting a byte stream into the pieces a socket might deliver it in, so a streaming decoder can
 * be checked to give the same result however its input arrives.
 *
 * @module
 */

import { seededRandom } from "./_rng.ts";

/** How long the next random piece is, given the generator. */
export type PieceLength = (random: () => number) => number;

/** Piece lengths of 1 to 16 bytes. */
const SHORT_PIECES: PieceLength = (random) => 1 + Math.floor(random() * 16);

/**
 * Every way of cutting `bytes` in two, at each offset from 0 to `bytes.length`: the first and last
 * have an empty piece, which a decoder must also take. Pieces are copies.
 *
 * @example
 * ```ts
 * for (const [head, tail] of everyCut(stream)) decode([head, tail]);
 * ```
 */
export function everyCut(bytes: Uint8Array): [Uint8Array, Uint8Array][] {
  const out: [Uint8Array, Uint8Array][] = [];
  for (let at = 0; at <= bytes.length; at++) out.push([bytes.slice(0, at), bytes.slice(at)]);
  return out;
}

/** Options for {@linkcode randomSplit}. */
export interface RandomSplitOptions {
  /** The length of each piece (the last is cut short). @default {1 to 16 bytes, uniformly} */
  pieceLength?: PieceLength;
}

/**
 * `bytes` cut into pieces of random length (copies, as socket reads would be).
 *
 * @example
 * ```ts
 * const pieces = randomSplit(stream, seededRandom(1), { pieceLength: (r) => 1 + Math.floor(r() * 600) });
 * ```
 */
export function randomSplit(
  bytes: Uint8Array,
  random: () => number,
  options: RandomSplitOptions = {},
): Uint8Array[] {
  const pieceLength = options.pieceLength ?? SHORT_PIECES;
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = Math.max(1, pieceLength(random));
    pieces.push(bytes.slice(at, at += length));
  }
  return pieces;
}

/** Options for {@linkcode splits}. */
export interface SplitsOptions extends RandomSplitOptions {
  /** Seed of the random splits, so a failure reproduces. @default {1} */
  seed?: number;
  /** How many random splits. @default {50} */
  rounds?: number;
  /** Include every two-piece cut ({@linkcode everyCut}): quadratic work for long inputs. @default {true} */
  everyCut?: boolean;
}

/**
 * Ways `bytes` may arrive: whole, one byte at a time, cut in two at every offset (unless
 * `everyCut` is false), then `rounds` seeded random splits.
 *
 * @example
 * ```ts
 * for (const pieces of splits(stream, { seed: 9 })) deepEqual(decode(pieces), decode([stream]));
 * ```
 */
export function splits(bytes: Uint8Array, options: SplitsOptions = {}): Uint8Array[][] {
  const { seed = 1, rounds = 50 } = options;
  const out: Uint8Array[][] = [[bytes], Array.from(bytes, (b) => Uint8Array.of(b))];
  if (options.everyCut ?? true) out.push(...everyCut(bytes));
  const random = seededRandom(seed);
  for (let round = 0; round < rounds; round++) out.push(randomSplit(bytes, random, options));
  return out;
}
