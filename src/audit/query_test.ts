import { deepStrictEqual, equal, throws } from "node:assert/strict";
import type { ReceiptInput } from "../core/mod.ts";
import { receiptInput, withTempDir } from "./_testing.ts";
import { queryReceipts } from "./query.ts";
import { ReceiptStore } from "./store.ts";

const BASE = Date.parse("2025-06-01T00:00:00Z");

// seq i is at minute i; agents cycle b, c, a; every fourth is allowed.
function seedInput(i: number): ReceiptInput {
  return receiptInput({
    time: new Date(BASE + i * 60_000),
    agent: ["a", "b", "c"][i % 3],
    verdict: i % 4 === 0 ? "allow" : "deny",
    reason: `reason ${i}`,
  });
}

async function withSeededStore(fn: (store: ReceiptStore) => void | Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    for (let i = 1; i <= 12; i++) store.record(seedInput(i));
    await store.flushed();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  });
}

const seqs = (rows: { seq: number }[]) => rows.map((r) => r.seq);

Deno.test("queryReceipts() returns every receipt oldest first", async () => {
  await withSeededStore((store) => {
    deepStrictEqual(seqs(queryReceipts(store)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    deepStrictEqual(seqs(queryReceipts(store.path)), seqs(queryReceipts(store)));
  });
});

Deno.test("queryReceipts() filters by verdict and by agent", async () => {
  await withSeededStore((store) => {
    deepStrictEqual(seqs(queryReceipts(store, { verdict: "allow" })), [4, 8, 12]);
    deepStrictEqual(seqs(queryReceipts(store, { agent: "b" })), [1, 4, 7, 10]);
    deepStrictEqual(seqs(queryReceipts(store, { agent: "b", verdict: "deny" })), [1, 7, 10]);
    deepStrictEqual(seqs(queryReceipts(store, { agent: "a", verdict: "allow" })), [12]);
    deepStrictEqual(queryReceipts(store, { agent: "nobody" }), []);
  });
});

Deno.test("queryReceipts() filters by time since, inclusive", async () => {
  await withSeededStore((store) => {
    const since = new Date(BASE + 10 * 60_000);
    deepStrictEqual(seqs(queryReceipts(store, { since })), [10, 11, 12]);
    deepStrictEqual(seqs(queryReceipts(store, { since: new Date(since.getTime() + 1) })), [11, 12]);
  });
});

Deno.test("queryReceipts() with a limit returns the newest matches, oldest first", async () => {
  await withSeededStore((store) => {
    deepStrictEqual(seqs(queryReceipts(store, { limit: 3 })), [10, 11, 12]);
    deepStrictEqual(seqs(queryReceipts(store, { verdict: "deny", limit: 2 })), [10, 11]);
    deepStrictEqual(seqs(queryReceipts(store, { verdict: "allow", limit: 2 })), [8, 12]);
  });
});

Deno.test("queryReceipts() with afterSeq pages forward for log --follow", async () => {
  await withSeededStore((store) => {
    deepStrictEqual(seqs(queryReceipts(store, { afterSeq: 9 })), [10, 11, 12]);
    deepStrictEqual(seqs(queryReceipts(store, { afterSeq: 2, limit: 3 })), [3, 4, 5]);
    deepStrictEqual(seqs(queryReceipts(store, { afterSeq: 12 })), []);
  });
});

Deno.test("queryReceipts() sees new receipts only once committed", async () => {
  await withSeededStore(async (store) => {
    const id = store.record(seedInput(13));
    deepStrictEqual(queryReceipts(store, { afterSeq: 12 }), []);
    await store.flushed();
    const rows = queryReceipts(store, { afterSeq: 12 });
    deepStrictEqual(rows.map((r) => [r.seq, r.id]), [[13, id]]);
  });
});

Deno.test("queryReceipts() finds one receipt by id", async () => {
  await withSeededStore((store) => {
    const [fifth] = queryReceipts(store, { afterSeq: 4, limit: 1 });
    const found = queryReceipts(store, { id: fifth.id });
    deepStrictEqual(found, [fifth]);
    equal(found[0].reason, "reason 5");
  });
});

Deno.test("queryReceipts() rejects an invalid filter with RangeError", async () => {
  await withSeededStore((store) => {
    throws(() => queryReceipts(store, { limit: 0 }), RangeError);
    throws(() => queryReceipts(store, { afterSeq: -1 }), RangeError);
    throws(() => queryReceipts(store, { since: new Date("nope") }), RangeError);
  });
});
