/**
 * Finding placeholders in text: leftmost-longest matching of a fixed set of strings, as written
 * or behind `%XX` escapes, without building a regular expression per request.
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** One placeholder occurrence: `text.slice(start, end)` (raw, possibly escaped) is placeholder `id`. */
export interface PlaceholderMatch {
  start: number;
  end: number;
  /** Index of the placeholder in the list given to {@linkcode PlaceholderSet}. */
  id: number;
}

const PERCENT = 0x25;
const NONE: PlaceholderMatch[] = [];

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * A fixed set of placeholders, searched leftmost-longest: at each position the longest
 * placeholder that occurs there wins, so `x{{a}}x` is found whole even when `{{a}}` is also a
 * placeholder, and matches never overlap.
 *
 * @example
 * ```ts
 * const set = new PlaceholderSet(["{{a}}", "{{bb}}"]);
 * set.find("x {{bb}} {{a}}"); // [{ start: 2, end: 8, id: 1 }, { start: 9, end: 14, id: 0 }]
 * set.findDecoded("%7B%7Ba%7d%7d"); // [{ start: 0, end: 13, id: 0 }]
 * ```
 */
export class PlaceholderSet {
  readonly #texts: string[];
  /** Ids by placeholder length, longest first. */
  readonly #byLength: number[];
  /**
   * Distinct two-character prefixes of every placeholder: one `includes` per prefix rules a
   * string out (default placeholders all start with `{{`, so that is usually a single check).
   */
  readonly #anchors: string[];

  constructor(placeholders: readonly string[]) {
    this.#texts = [...placeholders];
    for (const p of this.#texts) {
      if (p.length === 0) throw new TypeError("Cannot search for an empty placeholder");
    }
    this.#byLength = this.#texts.map((_, i) => i).sort((a, b) =>
      this.#texts[b].length - this.#texts[a].length || a - b
    );
    this.#anchors = [...new Set(this.#texts.map((p) => p.slice(0, 2)))];
  }

  /** Number of placeholders in the set. */
  get size(): number {
    return this.#texts.length;
  }

  /** Whether `s` can contain a placeholder as written (a cheap test before {@linkcode find}). */
  mayContain(s: string): boolean {
    for (const a of this.#anchors) if (s.includes(a)) return true;
    return false;
  }

  /** Placeholders as written in `s`, in order, non-overlapping. */
  find(s: string): PlaceholderMatch[] {
    if (!this.mayContain(s)) return NONE;
    let found: PlaceholderMatch[] | null = null;
    for (const id of this.#byLength) {
      const p = this.#texts[id];
      let at = s.indexOf(p);
      while (at >= 0) {
        (found ??= []).push({ start: at, end: at + p.length, id });
        at = s.indexOf(p, at + 1);
      }
    }
    return found === null ? NONE : leftmostLongest(found);
  }

  /**
   * Placeholders in `s` after decoding `%XX` escapes (hex in either case, escaped and literal
   * characters mixed freely); spans are positions in `s`. A `%` not followed by two hex digits
   * stays a literal `%`, as lenient URL decoders treat it.
   */
  findDecoded(s: string): PlaceholderMatch[] {
    if (s.indexOf("%") < 0) return this.find(s);
    const { text, rawIndex } = percentDecode(s);
    const found = this.find(text);
    if (found.length === 0) return NONE;
    return found.map((m) => ({ start: rawIndex[m.start], end: rawIndex[m.end], id: m.id }));
  }
}

/** Keeps, scanning left to right, the longest match at each position that overlaps no kept one. */
function leftmostLongest(found: PlaceholderMatch[]): PlaceholderMatch[] {
  if (found.length === 1) return found;
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: PlaceholderMatch[] = [];
  let cursor = 0;
  for (const m of found) {
    if (m.start < cursor) continue;
    kept.push(m);
    cursor = m.end;
  }
  return kept;
}

/**
 * `%XX` escapes decoded to one character each (other characters above U+00FF become U+0000,
 * which no placeholder contains); `rawIndex[k]` is where decoded character `k` starts in `s`,
 * and `rawIndex[text.length] === s.length`.
 */
export function percentDecode(s: string): { text: string; rawIndex: Uint32Array } {
  const rawIndex = new Uint32Array(s.length + 1);
  const bytes = new Uint8Array(s.length);
  let k = 0;
  let i = 0;
  while (i < s.length) {
    rawIndex[k] = i;
    const c = s.charCodeAt(i);
    if (c === PERCENT) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        bytes[k++] = hi * 16 + lo;
        i += 3;
        continue;
      }
    }
    bytes[k++] = c <= 0xff ? c : 0;
    i++;
  }
  rawIndex[k] = s.length;
  return { text: latin1(bytes.subarray(0, k)), rawIndex };
}

/**
 * Bytes as a string of one character per byte (ISO-8859-1), so string search finds ASCII
 * placeholders and offsets are byte offsets. Much faster than a byte loop or `TextDecoder`.
 */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}
