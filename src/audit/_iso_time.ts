/**
 * Receipt times as `Date.prototype.toISOString()` writes them, made from the last one when the
 * time falls in the same second: V8's own takes ~0.4 µs a call (a receipt, and an outcome row
 * when its exchange outlives the batch), and a busy gateway stamps thousands a second.
 *
 * @module
 */

/** The last time formatted, in ms since the epoch, and its text. */
let lastMs = Number.NaN;
let lastText = "";

/**
 * `date.toISOString()`. Throws the same RangeError for an invalid date.
 *
 * @example
 * ```ts
 * isoTime(new Date(Date.UTC(2026, 11, 6, 9, 0, 0, 7))); // "2026-12-06T09:00:00.007Z"
 * ```
 */
export function isoTime(date: Date): string {
  const ms = date.getTime();
  if (ms === lastMs) return lastText;
  const second = Math.floor(ms / 1000);
  // The 24-character form (years 0000–9999) of the same second differs only in its milliseconds.
  if (lastText.length === 24 && second === Math.floor(lastMs / 1000)) {
    const milli = ms - second * 1000;
    lastText = `${lastText.slice(0, 20)}${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
  } else {
    lastText = date.toISOString();
  }
  lastMs = ms;
  return lastText;
}
