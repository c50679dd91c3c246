/**
 * Joining byte arrays: one implementation for codecs, scrubbers and test fixtures.
 *
 * @module
 */

/**
 * The bytes of `parts` in order, in a new array: the result never shares memory with a part, so
 * either may be changed or reused afterwards.
 *
 * @example
 * ```ts
 * concatBytes([new Uint8Array([1, 2]), new Uint8Array([3])]); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The bytes of `parts` in order, without a copy when there is one part: that part itself is
 * returned ({@linkcode EMPTY_BYTES} for none). For buffers about to be written or parsed once; a
 * caller that keeps the result while the part's buffer may be reused, or changes it, wants
 * {@linkcode concatBytes}.
 *
 * @example
 * ```ts
 * const one = new Uint8Array([1]);
 * joinBytes([one]) === one; // true
 * joinBytes([one, new Uint8Array([2])]); // Uint8Array [1, 2]
 * ```
 */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0) return EMPTY_BYTES;
  return parts.length === 1 ? parts[0] : concatBytes(parts);
}

/**
 * One empty array for everyone: each `new Uint8Array(0)` still allocates a buffer with its own
 * bookkeeping (four native allocations, freed by the garbage collector), several per request.
 */
export const EMPTY_BYTES: Uint8Array = Object.freeze(new Uint8Array(0)) as Uint8Array;
