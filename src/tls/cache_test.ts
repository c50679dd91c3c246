import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import type { GatewayCa } from "./ca.ts";
import { LeafCache } from "./cache.ts";
import type { LeafCertificate } from "./leaf.ts";

const CA = {} as GatewayCa;

function fakeMint(calls: string[], validMs = 7 * 86_400_000, now = () => Date.now()) {
  return async (_ca: GatewayCa, host: string): Promise<LeafCertificate> => {
    calls.push(host);
    await new Promise((r) => setTimeout(r, 5));
    return {
      certPem: `cert:${host}:${calls.length}`,
      keyPem: "key",
      notAfter: new Date(now() + validMs),
    };
  };
}

Deno.test("LeafCache mints once per host however many callers ask at the same time", async () => {
  const calls: string[] = [];
  const cache = new LeafCache(CA, { mint: fakeMint(calls) });
  const leaves = await Promise.all(
    Array.from({ length: 50 }, (_, i) => cache.get(i % 2 ? "API.test" : "api.test")),
  );
  deepEqual(calls, ["api.test"]);
  equal(new Set(leaves.map((l) => l.certPem)).size, 1);
  equal(cache.mints, 1);
});

Deno.test("LeafCache re-mints a leaf close to expiry", async () => {
  const calls: string[] = [];
  let clock = Date.now();
  const cache = new LeafCache(CA, {
    mint: fakeMint(calls, 2 * 86_400_000, () => clock),
    now: () => new Date(clock),
    renewBeforeMs: 86_400_000,
  });
  const first = await cache.get("a.test");
  equal((await cache.get("a.test")).certPem, first.certPem);
  clock += 1.5 * 86_400_000;
  const renewed = await cache.get("a.test");
  ok(renewed.certPem !== first.certPem);
  equal(calls.length, 2);
});

Deno.test("LeafCache does not keep a failed mint: the next request tries again", async () => {
  let fail = true;
  const calls: string[] = [];
  const ok2 = fakeMint(calls);
  const cache = new LeafCache(CA, {
    mint: (ca, host) => fail ? Promise.reject(new TypeError("bad host")) : ok2(ca, host),
  });
  await rejects(() => cache.get("x.test"), TypeError);
  fail = false;
  equal((await cache.get("x.test")).certPem, "cert:x.test:1");
});

Deno.test("LeafCache drops the least recently used host past maxEntries", async () => {
  const calls: string[] = [];
  const cache = new LeafCache(CA, { mint: fakeMint(calls), maxEntries: 2 });
  await cache.get("a.test");
  await cache.get("b.test");
  await cache.get("a.test"); // a is now the most recent
  await cache.get("c.test"); // evicts b
  await cache.get("a.test");
  await cache.get("b.test");
  deepEqual(calls, ["a.test", "b.test", "c.test", "b.test"]);
});
