import assert from "node:assert/strict";
import { RECEIPT_ID_PATTERN, ReceiptIdGenerator } from "./_id.ts";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The number a run of Crockford base32 characters spells, most significant first. */
function decode(text: string): number {
  let n = 0;
  for (const c of text) n = n * 32 + ALPHABET.indexOf(c);
  return n;
}

Deno.test("receipt ids spell their millisecond and count up within it", () => {
  const ids = new ReceiptIdGenerator();
  const ms = Date.UTC(2026, 11, 5, 12, 0, 0, 123);
  let last = ids.next(ms);
  assert.match(last, RECEIPT_ID_PATTERN);
  assert.equal(decode(last.slice(5, 15)), ms);
  for (let i = 0; i < 5_000; i++) {
    const id = ids.next(ms);
    assert.match(id, RECEIPT_ID_PATTERN);
    assert.ok(id > last, `${id} after ${last}`);
    assert.equal(decode(id.slice(5, 15)), ms);
    // One more than the id before: 80 random bits drawn once per millisecond, then counted.
    const before = BigInt(decode(last.slice(15, 23))) * 2n ** 40n + BigInt(decode(last.slice(23)));
    const now = BigInt(decode(id.slice(15, 23))) * 2n ** 40n + BigInt(decode(id.slice(23)));
    assert.equal(now, before + 1n);
    last = id;
  }
  const later = ids.next(ms + 1);
  assert.equal(decode(later.slice(5, 15)), ms + 1);
  assert.ok(later > last);
  // A clock that steps back keeps counting on from the last id, never reorders.
  const back = ids.next(ms - 10);
  assert.ok(back > later);
  assert.equal(decode(back.slice(5, 15)), ms + 1);
});
