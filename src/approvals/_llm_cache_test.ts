import { deepStrictEqual as equal } from "node:assert/strict";
import { VerdictCache } from "./_llm_cache.ts";

const DENY = { decision: "deny" as const, reason: "no" };
const ALLOW = { decision: "allow" as const, reason: "yes" };

Deno.test("VerdictCache keeps a verdict until its TTL passes", () => {
  let now = 1_000;
  const cache = new VerdictCache({ ttlMs: 500, now: () => now });
  cache.set("f1", DENY);
  equal(cache.get("f1"), DENY);
  now += 499;
  equal(cache.get("f1"), DENY);
  now += 1;
  equal(cache.get("f1"), undefined);
  equal(cache.size, 0, "an expired verdict is dropped when touched");
});

Deno.test("VerdictCache with a TTL of 0 remembers nothing", () => {
  const cache = new VerdictCache({ ttlMs: 0 });
  cache.set("f1", ALLOW);
  equal(cache.get("f1"), undefined);
  equal(cache.size, 0);
});

Deno.test("VerdictCache drops the least recently used verdict when full", () => {
  const cache = new VerdictCache({ ttlMs: 60_000, maxEntries: 2 });
  cache.set("a", ALLOW);
  cache.set("b", DENY);
  equal(cache.get("a"), ALLOW); // a is now the most recently used
  cache.set("c", DENY);
  equal(cache.size, 2);
  equal(cache.get("b"), undefined);
  equal(cache.get("a"), ALLOW);
  equal(cache.get("c"), DENY);
});

Deno.test("VerdictCache replaces a key's verdict and restarts its TTL", () => {
  let now = 0;
  const cache = new VerdictCache({ ttlMs: 100, now: () => now });
  cache.set("f", ALLOW);
  now = 90;
  cache.set("f", DENY);
  now = 150;
  equal(cache.get("f"), DENY);
  equal(cache.size, 1);
});
