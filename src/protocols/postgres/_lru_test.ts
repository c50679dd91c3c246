import { deepEqual, equal, throws } from "node:assert/strict";
import { Lru } from "./_lru.ts";

Deno.test("lru: evicts the least recently used entry", () => {
  const lru = new Lru<string, number>(2);
  lru.set("a", 1);
  lru.set("b", 2);
  equal(lru.get("a"), 1); // "b" is now the oldest
  lru.set("c", 3);
  equal(lru.size, 2);
  equal(lru.get("b"), undefined);
  equal(lru.get("a"), 1);
  equal(lru.get("c"), 3);
});

Deno.test("lru: set on an existing key refreshes it without growing", () => {
  const lru = new Lru<string, number>(2);
  lru.set("a", 1);
  lru.set("b", 2);
  lru.set("a", 10);
  lru.set("c", 3); // evicts "b"
  deepEqual([lru.has("a"), lru.has("b"), lru.has("c")], [true, false, true]);
  equal(lru.get("a"), 10);
});

Deno.test("lru: capacity 0 stores nothing; invalid capacity throws", () => {
  const lru = new Lru<string, number>(0);
  lru.set("a", 1);
  equal(lru.size, 0);
  equal(lru.get("a"), undefined);
  throws(() => new Lru(-1), RangeError);
  throws(() => new Lru(1.5), RangeError);
});

Deno.test("lru: clear empties it", () => {
  const lru = new Lru<number, string>(3);
  for (let i = 0; i < 5; i++) lru.set(i, String(i));
  equal(lru.size, 3);
  deepEqual([lru.get(0), lru.get(2), lru.get(4)], [undefined, "2", "4"]);
  lru.clear();
  equal(lru.size, 0);
});

Deno.test("lru: a key hit while in the older half moves; one hit every few inserts is never evicted", () => {
  const lru = new Lru<string, number>(4);
  for (const k of ["a", "b", "c", "d"]) lru.set(k, 0);
  equal(lru.get("d"), 0); // the newest: stays where it is
  equal(lru.get("a"), 0); // the oldest: moves to the newest end
  lru.set("e", 0); // evicts "b", now the oldest
  deepEqual(["a", "b", "c", "d", "e"].map((k) => lru.has(k)), [true, false, true, true, true]);

  const hot = new Lru<string, number>(8);
  hot.set("hot", 1);
  for (let i = 0; i < 1000; i++) {
    hot.set(`k${i}`, i);
    if (i % 4 === 0) equal(hot.get("hot"), 1, `evicted after ${i} inserts`);
  }
  equal(hot.size, 8);
});
