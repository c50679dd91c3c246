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
  return joinInto(parts, (length) => new Uint8Array(length));
}

/** Copies `parts` in order into the array `make` gives for their total length. */
function joinInto(
  parts: readonly Uint8Array[],
  make: (length: number) => Uint8Array<ArrayBuffer>,
): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = make(length);
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

/** Bytes a slab holds; a short-lived array taken from it keeps all of them alive while it lives. */
const SLAB_BYTES = 16 * 1024;
/** Longer arrays get their own buffer: a slab pays off for heads and small bodies. */
const SLAB_TAKE_MAX = 2 * 1024;
let slab = new Uint8Array(0);
let slabAt = 0;

/**
 * A new zero-filled array of `length` bytes, for data about to be written out and dropped (a
 * head, a small body read from a socket). Small ones are cut from a shared slab, the way Node
 * pools small Buffers: each `new Uint8Array` costs ~1 µs of native allocation and freeing on this
 * runtime, and a gateway makes several per request. A part of a slab is handed out once and never
 * reused, so it holds only what its owner writes; its `.buffer` is the whole slab, so it must be
 * passed on as a view (sockets and the codecs here do), never as its buffer. Anything kept for
 * long (a buffered partial head, a held body) should not come from here: it would keep its slab
 * alive.
 *
 * @example
 * ```ts
 * const head = shortLivedBytes(5);
 * head.set([0x48, 0x54, 0x54, 0x50, 0x2f]); // "HTTP/"
 * await conn.write(head);
 * ```
 */
export function shortLivedBytes(length: number): Uint8Array<ArrayBuffer> {
  if (length > SLAB_TAKE_MAX) return new Uint8Array(length);
  if (slabAt + length > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + length);
  // Aligned, so that no two parts share a word.
  slabAt = (slabAt + length + 7) & ~7;
  return out;
}

/**
 * The bytes of `parts` in order, in a {@linkcode shortLivedBytes} array: for bytes about to be
 * written out and dropped. Like {@linkcode concatBytes}, it never shares memory with a part.
 */
export function concatShortLived(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  return joinInto(parts, shortLivedBytes);
}
