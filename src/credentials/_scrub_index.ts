/**
 * The scrubber's multi-pattern matcher: a fixed set of forms, found leftmost-longest in one pass
 * over the text whatever their number. A secret has a few dozen forms, so searching for each in
 * turn (`indexOf` per form) would cost a pass per form; here every position costs one lookup of
 * its first two characters in a bitmap, and only positions whose pair starts some form are
 * compared with the forms that start with it.
 *
 * @module
 */

/** The two characters at `i` as a 16-bit key (low bytes only: a collision only costs a compare). */
function pairKey(s: string, i: number): number {
  return ((s.charCodeAt(i) & 0xff) << 8) | (s.charCodeAt(i + 1) & 0xff);
}

/** Whether `bytes` holds `form` (a latin1 string: one byte a character) at `at`. */
function bytesStartWith(bytes: Uint8Array, form: string, at: number): boolean {
  if (at + form.length > bytes.length) return false;
  for (let j = 0; j < form.length; j++) {
    if (bytes[at + j] !== form.charCodeAt(j)) return false;
  }
  return true;
}

/** A 16-bit hash of the three bytes `pair << 8 | third`, for the second-level filter. */
function tripleHash(pair: number, third: number): number {
  return Math.imul((pair << 8) | third, 0x9e3779b1) >>> 16;
}

/**
 * Shortest form length from which `find` steps over positions (below it the shift table's steps
 * are too short to beat reading every position).
 */
const MIN_SKIPPING_LENGTH = 8;

/** {@linkcode FormIndex}'s per-pair kinds for `find`. */
const NO_FORM = 0;
const LONGER_FORM = 1;
/** A whole two-character form (maybe also the start of longer ones): no triple to check. */
const TWO_CHARACTER_FORM = 2;

/**
 * Forms indexed by their first two characters.
 *
 * @example
 * ```ts
 * const index = new FormIndex(["abcd", "ab"]);
 * index.at("xabcd", 1); // 0: "abcd", the longest form at 1
 * index.pendingPrefix("xxabc", 0); // 3: "abc" may begin "abcd"
 * ```
 */
export class FormIndex {
  /** The forms, longest first (ids are indexes into this list). */
  readonly forms: readonly string[];
  /** One bit per pair key that starts some form of two or more characters. */
  readonly #pairBits = new Uint8Array(65536 / 8);
  /**
   * One bit per hash of the first three characters of each longer form: in text full of hex
   * or base64, many pairs start some form, and this second look rules most of them out cheaply.
   */
  readonly #tripleBits = new Uint8Array(65536 / 8);
  /** Pair keys that are a whole two-character form (the triple filter does not apply). */
  readonly #shortPairs = new Set<number>();
  /**
   * What {@linkcode find} reads per position: a byte per pair key, `NO_FORM`, `LONGER_FORM` (check
   * the triple) or `TWO_CHARACTER_FORM`. 64 KiB, built on the first `find`, so an index only ever
   * asked `at` (header values) never has one; a byte load per position instead of a shift, a mask
   * and a bit test made the scan 13–20% faster (scrub_bench.ts: 16 KB of JSON 55.2 → 48.0 µs).
   */
  #pairKinds: Uint8Array | null = null;
  /** Ids by pair key, longest first. */
  readonly #byPair = new Map<number, number[]>();
  /** One-character forms by character. */
  readonly #single = new Map<string, number>();
  /** First characters of the forms of two or more characters. */
  readonly #firsts = new Set<string>();
  /** Length of the longest form. */
  readonly longest: number;
  /** Length of the shortest form of two or more characters (0 when there is none). */
  readonly #shortest: number;
  /**
   * How far `find` may move on from a position `p`, read from the pair ending `#shortest`
   * characters into the text at `p` (Wu and Manber's shift table): 0 when that pair ends the
   * first `#shortest` characters of some form, so `p` must be checked; otherwise the distance to
   * the nearest position where it could sit inside a form's first `#shortest` characters. Built
   * on the first `find` over forms long enough for skipping to pay.
   */
  #shifts: Uint8Array | null = null;

  /** Indexes `forms`, which must be non-empty strings sorted longest first. */
  constructor(forms: readonly string[]) {
    this.forms = forms;
    this.longest = forms.length > 0 ? forms[0].length : 0;
    const multi = forms.filter((f) => f.length >= 2);
    this.#shortest = multi.length > 0 ? multi[multi.length - 1].length : 0;
    forms.forEach((form, id) => {
      if (form.length === 1) {
        if (!this.#single.has(form)) this.#single.set(form, id);
        return;
      }
      const key = pairKey(form, 0);
      this.#pairBits[key >>> 3] |= 1 << (key & 7);
      if (form.length === 2) this.#shortPairs.add(key);
      else {
        const h = tripleHash(key, form.charCodeAt(2) & 0xff);
        this.#tripleBits[h >>> 3] |= 1 << (h & 7);
      }
      const ids = this.#byPair.get(key);
      if (ids) ids.push(id);
      else this.#byPair.set(key, [id]);
      this.#firsts.add(form[0]);
    });
  }

  /** Id of the longest form that occurs in `s` at `i`, or -1. */
  at(s: string, i: number): number {
    if (i + 1 < s.length) {
      const key = pairKey(s, i);
      if (this.#pairBits[key >>> 3] & (1 << (key & 7))) {
        for (const id of this.#byPair.get(key)!) {
          if (s.startsWith(this.forms[id], i)) return id;
        }
      }
    }
    if (this.#single.size === 0) return -1;
    return this.#single.get(s[i]) ?? -1;
  }

  /**
   * The leftmost form starting in `[from, limit)` of `bytes`, the longest one at that position,
   * for an index of latin1 forms (one byte a character): the per-response hot loop, so it reads
   * the pair key straight from the bytes and compares bytes only where the table says a form may
   * start. No string of the chunk is made (it cost a copy of every body: ~1 µs per 5 KB).
   */
  find(bytes: Uint8Array, from: number, limit: number): { at: number; id: number } | null {
    if (this.#single.size > 0) return this.#findWithSingles(bytes, from, limit);
    if (this.#shortest >= MIN_SKIPPING_LENGTH) return this.#findSkipping(bytes, from, limit);
    const kinds = this.#pairKinds ??= this.#buildPairKinds();
    const triples = this.#tripleBits;
    const n = bytes.length;
    const end = Math.min(limit, n - 1);
    // The key slides: each step shifts in one byte.
    let key = bytes[from];
    for (let i = from; i < end; i++) {
      key = ((key << 8) | bytes[i + 1]) & 0xffff;
      const kind = kinds[key];
      if (kind === NO_FORM) continue;
      if (kind === LONGER_FORM && i + 2 < n) {
        const h = tripleHash(key, bytes[i + 2]);
        if ((triples[h >>> 3] & (1 << (h & 7))) === 0) continue;
      }
      const id = this.#formAt(bytes, key, i);
      if (id >= 0) return { at: i, id };
    }
    return null;
  }

  /**
   * {@linkcode find} for forms of at least {@linkcode MIN_SKIPPING_LENGTH} bytes: a form starting
   * at `p` fills `p … p + shortest − 1`, so the pair ending there must be one that ends some form's
   * first `shortest` bytes; any other pair says how many positions cannot start a form (Wu–Manber
   * with blocks of two bytes). Response text is mostly pairs no form holds there, so most positions
   * are stepped over unread. The positions it stops at are checked as `find` checks every one.
   */
  #findSkipping(
    bytes: Uint8Array,
    from: number,
    limit: number,
  ): { at: number; id: number } | null {
    const shifts = this.#shifts ??= this.#buildShifts();
    const kinds = this.#pairKinds ??= this.#buildPairKinds();
    const triples = this.#tripleBits;
    const n = bytes.length;
    const reach = this.#shortest - 1;
    // A form starting at `p` needs `p + shortest <= n`, and must start before `limit`.
    const end = Math.min(limit, n - reach);
    for (let p = from; p < end;) {
      const shift = shifts[(bytes[p + reach - 1] << 8) | bytes[p + reach]];
      if (shift > 0) {
        p += shift;
        continue;
      }
      // As `find` checks a position; every form here is longer than two bytes, and `p + 2 < n`.
      const key = (bytes[p] << 8) | bytes[p + 1];
      if (kinds[key] !== NO_FORM) {
        const h = tripleHash(key, bytes[p + 2]);
        if ((triples[h >>> 3] & (1 << (h & 7))) !== 0) {
          const id = this.#formAt(bytes, key, p);
          if (id >= 0) return { at: p, id };
        }
      }
      p++;
    }
    return null;
  }

  #buildShifts(): Uint8Array {
    const length = this.#shortest;
    // One byte a shift: a longer safe distance is capped, which only moves on less far.
    const shifts = new Uint8Array(65536).fill(Math.min(length - 1, 255));
    for (const form of this.forms) {
      if (form.length < 2) continue;
      for (let j = 0; j + 1 < length; j++) {
        const key = ((form.charCodeAt(j) & 0xff) << 8) | (form.charCodeAt(j + 1) & 0xff);
        const shift = length - 2 - j;
        if (shift < shifts[key]) shifts[key] = shift;
      }
    }
    return shifts;
  }

  /** The longest form starting with the pair `key` that `bytes` holds at `i`, or -1. */
  #formAt(bytes: Uint8Array, key: number, i: number): number {
    for (const id of this.#byPair.get(key)!) {
      if (bytesStartWith(bytes, this.forms[id], i)) return id;
    }
    return -1;
  }

  #buildPairKinds(): Uint8Array {
    const kinds = new Uint8Array(65536);
    for (const key of this.#byPair.keys()) {
      kinds[key] = this.#shortPairs.has(key) ? TWO_CHARACTER_FORM : LONGER_FORM;
    }
    return kinds;
  }

  /**
   * {@linkcode find} for a set with one-character forms (a one-character secret): rare, slower.
   * What {@linkcode at} does, on the bytes: called again after every match, so it makes no copy
   * of the chunk (one per call would cost a body full of matches its length squared).
   */
  #findWithSingles(
    bytes: Uint8Array,
    from: number,
    limit: number,
  ): { at: number; id: number } | null {
    for (let i = from; i < Math.min(limit, bytes.length); i++) {
      const key = i + 1 < bytes.length ? (bytes[i] << 8) | bytes[i + 1] : -1;
      const pair = key >= 0 && (this.#pairBits[key >>> 3] & (1 << (key & 7))) !== 0
        ? this.#formAt(bytes, key, i)
        : -1;
      if (pair >= 0) return { at: i, id: pair };
      const id = this.#single.get(String.fromCharCode(bytes[i]));
      if (id !== undefined) return { at: i, id };
    }
    return null;
  }

  /**
   * Length of the longest tail of `s`, starting at `from` or later, that is a proper prefix of
   * some form (it may be completed by text not seen yet).
   */
  pendingPrefix(s: string, from: number): number {
    for (let p = Math.max(0, from); p < s.length; p++) {
      const rest = s.length - p;
      if (rest === 1) return this.#firsts.has(s[p]) ? 1 : 0;
      const key = pairKey(s, p);
      if (!(this.#pairBits[key >>> 3] & (1 << (key & 7)))) continue;
      const tail = s.slice(p);
      for (const id of this.#byPair.get(key)!) {
        const form = this.forms[id];
        if (form.length > rest && form.startsWith(tail)) return rest;
      }
    }
    return 0;
  }
}
