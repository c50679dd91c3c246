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

Deno.test("lru: a hit makes a key the newest; one hit every few inserts is never evicted", () => {
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

Deno.test("lru: matches a reference model over random gets, sets and evictions", () => {
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const capacity of [1, 2, 3, 8]) {
    const lru = new Lru<number, number>(capacity);
    // The model: keys from least to most recently used.
    const model: [number, number][] = [];
    const touch = (k: number) => {
      const at = model.findIndex(([key]) => key === k);
      if (at < 0) return undefined;
      const [entry] = model.splice(at, 1);
      model.push(entry);
      return entry[1];
    };
    for (let step = 0; step < 5_000; step++) {
      const key = Math.floor(next() * (capacity * 2 + 1));
      if (next() < 0.5) {
        equal(lru.get(key), touch(key), `get ${key} at step ${step}`);
      } else {
        if (touch(key) !== undefined) model[model.length - 1][1] = step;
        else model.push([key, step]);
        if (model.length > capacity) model.shift();
        lru.set(key, step);
      }
      equal(lru.size, model.length);
    }
    for (const [key, value] of model) equal(lru.get(key), value);
  }
});
