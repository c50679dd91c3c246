import { deepStrictEqual as assertEquals, notDeepStrictEqual, ok } from "node:assert/strict";
import { concatBytes } from "../src/core/mod.ts";
import { seededRandom } from "./_rng.ts";
import { everyCut, randomSplit, splits } from "./_splits.ts";

const stream = Uint8Array.from({ length: 40 }, (_, i) => i);

Deno.test("everyCut() cuts at every offset, both ends included, and the halves rejoin", () => {
  const cuts = everyCut(stream);
  assertEquals(cuts.length, stream.length + 1);
  cuts.forEach(([head, tail], at) => {
    assertEquals(head.length, at);
    assertEquals(concatBytes([head, tail]), stream);
  });
});

Deno.test("everyCut() gives copies: changing a piece leaves the input alone", () => {
  const [head] = everyCut(stream)[5];
  head[0] = 99;
  assertEquals(stream[0], 0);
});

Deno.test("randomSplit() covers the input with non-empty pieces of the lengths asked for", () => {
  const pieces = randomSplit(stream, seededRandom(3), { pieceLength: () => 7 });
  assertEquals(pieces.map((p) => p.length), [7, 7, 7, 7, 7, 5]);
  assertEquals(concatBytes(pieces), stream);
  // A length below 1 would loop forever: it is taken as 1.
  assertEquals(randomSplit(stream, seededRandom(3), { pieceLength: () => 0 }).length, 40);
  for (const piece of randomSplit(stream, seededRandom(3))) {
    ok(piece.length >= 1 && piece.length <= 16, `${piece.length}`);
  }
});

Deno.test("splits() gives whole, byte-at-a-time, every cut, then the seeded random splits", () => {
  const all = splits(stream, { seed: 5, rounds: 10 });
  assertEquals(all.length, 2 + (stream.length + 1) + 10);
  assertEquals(all[0], [stream]);
  assertEquals(all[1].length, stream.length);
  for (const pieces of all) assertEquals(concatBytes(pieces), stream);
  assertEquals(splits(stream, { seed: 5, rounds: 10 }), all);
  notDeepStrictEqual(splits(stream, { seed: 6, rounds: 10 }), all);
  assertEquals(splits(stream, { rounds: 3, everyCut: false }).length, 2 + 3);
});
