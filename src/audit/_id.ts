/**
 * Receipt ids: `rcpt_` + 26 Crockford base32 characters (48-bit millisecond time, then 80 random
 * bits), so ids sort by creation time and are unguessable.
 *
 * @module
 */

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TWO_40 = 2 ** 40;
const TWO_20 = 2 ** 20;
/** Every 10-bit value as its two characters. */
const PAIRS = Array.from({ length: 1024 }, (_, v) => ALPHABET[v >> 5] + ALPHABET[v & 31]);
const POOL_BYTES = 4096;

/**
 * The shape of every receipt id, for checking ids that come back from users.
 *
 * @example
 * ```ts
 * RECEIPT_ID_PATTERN.test("rcpt_01M7YZGRNYBT6CCCH0GYNBPBQH"); // true
 * ```
 */
export const RECEIPT_ID_PATTERN = /^rcpt_[0-9A-HJKMNP-TV-Z]{26}$/;

function encode(value: number, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/**
 * Generates strictly increasing ids within one process. Within one millisecond (or if the clock
 * steps back) the random part is incremented instead of redrawn, so ids never collide or reorder
 * here; across processes the 80 random bits make a collision negligible.
 */
export class ReceiptIdGenerator {
  #lastMs = 0;
  /** `rcpt_`, the time and the high random part: the same for every id until either changes. */
  #head = "";
  #hi = 0;
  #lo = 0;
  // crypto.getRandomValues costs about a microsecond per call; drawing a pool amortises it.
  #pool = new Uint8Array(POOL_BYTES);
  #poolPos = POOL_BYTES;

  next(nowMs: number = Date.now()): string {
    if (nowMs > this.#lastMs) {
      this.#lastMs = nowMs;
      this.#hi = this.#random40();
      this.#lo = this.#random40();
      this.#head = "";
    } else if (++this.#lo === TWO_40) {
      this.#lo = 0;
      this.#head = "";
      if (++this.#hi === TWO_40) {
        this.#hi = 0;
        this.#lastMs++;
      }
    }
    if (this.#head === "") {
      this.#head = "rcpt_" + encode(this.#lastMs, 10) + encode(this.#hi, 8);
    }
    // The low 40 bits as four pairs of characters: a few strings per id, not one per character.
    const upper = Math.floor(this.#lo / TWO_20);
    const lower = this.#lo % TWO_20;
    return this.#head + PAIRS[upper >> 10] + PAIRS[upper & 1023] + PAIRS[lower >> 10] +
      PAIRS[lower & 1023];
  }

  #random40(): number {
    if (this.#poolPos + 5 > POOL_BYTES) {
      crypto.getRandomValues(this.#pool);
      this.#poolPos = 0;
    }
    let n = 0;
    for (let i = 0; i < 5; i++) n = n * 256 + this.#pool[this.#poolPos++];
    return n;
  }
}
