import {
  deepStrictEqual as assertEquals,
  notDeepStrictEqual,
  ok,
  throws,
} from "node:assert/strict";
import { seededRandom, SeededRng, seedFrom } from "./_rng.ts";

Deno.test("SeededRng is mulberry32: seed 1 gives its known first outputs", () => {
  const rng = new SeededRng(1);
  assertEquals([rng.next(), rng.next(), rng.next()], [2693262067, 11749833, 2265367787]);
});

Deno.test("SeededRng repeats a sequence for the same seed and changes it for another", () => {
  const run = (seed: number) => Array.from({ length: 20 }, new SeededRng(seed).next);
  assertEquals(run(42), run(42));
  notDeepStrictEqual(run(42), run(43));
  // Seeds are taken as uint32: a negative seed is the same generator as its two's complement.
  assertEquals(run(-1), run(0xffffffff));
});

Deno.test("SeededRng keeps float, int, pick and chance in range", () => {
  const rng = new SeededRng(7);
  const items = ["a", "b", "c"] as const;
  for (let i = 0; i < 10_000; i++) {
    const f = rng.float();
    ok(f >= 0 && f < 1, `float ${f}`);
    const n = rng.int(6);
    ok(Number.isInteger(n) && n >= 0 && n < 6, `int ${n}`);
    ok(items.includes(rng.pick(items)));
  }
  ok(!rng.chance(0));
  ok(rng.chance(1));
});

Deno.test("seededRandom() is the float stream of the same seed, and works detached", () => {
  const random = seededRandom(9);
  const rng = new SeededRng(9);
  for (let i = 0; i < 100; i++) assertEquals(random(), rng.next() / 4294967296);
});

Deno.test("seedFrom() takes the seed from the environment, else draws one", () => {
  const name = "CLAWPATROL_TEST_RNG_SEED";
  try {
    Deno.env.set(name, "1234");
    assertEquals(seedFrom(name), 1234);
    Deno.env.set(name, "-3");
    throws(() => seedFrom(name), /CLAWPATROL_TEST_RNG_SEED must be a whole number/);
    Deno.env.delete(name);
    const drawn = seedFrom(name);
    ok(Number.isInteger(drawn) && drawn >= 0 && drawn < 2 ** 32);
  } finally {
    Deno.env.delete(name);
  }
});
