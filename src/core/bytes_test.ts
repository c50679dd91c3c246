import {
  deepStrictEqual as assertEquals,
  notStrictEqual,
  ok,
  strictEqual,
} from "node:assert/strict";
import { concatBytes, joinBytes } from "./bytes.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("concatBytes() joins parts in order, empty parts included", () => {
  assertEquals(concatBytes([bytes(1, 2), bytes(), bytes(3), bytes(4, 5)]), bytes(1, 2, 3, 4, 5));
  assertEquals(concatBytes([]), bytes());
  assertEquals(concatBytes([bytes(), bytes()]), bytes());
});

Deno.test("concatBytes() copies even a single part, so changing the result leaves the part alone", () => {
  const part = bytes(7, 8);
  const out = concatBytes([part]);
  notStrictEqual(out, part);
  out[0] = 0;
  assertEquals(part, bytes(7, 8));
});

Deno.test("concatBytes() reads views at their offset, not their whole buffer", () => {
  const buffer = bytes(0, 1, 2, 3, 4, 5);
  assertEquals(concatBytes([buffer.subarray(4), buffer.subarray(1, 3)]), bytes(4, 5, 1, 2));
});

Deno.test("joinBytes() returns a lone part itself and joins several into a new array", () => {
  const part = bytes(1);
  strictEqual(joinBytes([part]), part);
  const joined = joinBytes([part, bytes(2)]);
  assertEquals(joined, bytes(1, 2));
  ok(joined.buffer !== part.buffer);
  assertEquals(joinBytes([]), bytes());
});
