import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Receipt } from "../core/mod.ts";
import type { ReceiptFilter } from "../audit/mod.ts";
import { ReceiptFeed } from "./_feed.ts";

function fakeStore() {
  const rows: Receipt[] = [];
  const reads: ReceiptFilter[] = [];
  const query = (filter: ReceiptFilter) => {
    reads.push(filter);
    const after = rows.filter((r) => r.seq > (filter.afterSeq ?? 0));
    return filter.afterSeq === undefined
      ? after.slice(-(filter.limit ?? 1))
      : after.slice(0, filter.limit);
  };
  const add = (seq: number) => rows.push({ seq } as Receipt);
  return { query, add, reads };
}

Deno.test("the feed reads nothing while nobody watches, then delivers only what is new", async () => {
  const store = fakeStore();
  const feed = new ReceiptFeed(store.query);
  store.add(1);
  feed.notify();
  assertEquals(store.reads, [], "no viewer: a commit costs no read");
  const got: number[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  const stop = feed.subscribe((receipts) => {
    got.push(...receipts.map((r) => r.seq));
    resolve();
  });
  store.add(2);
  store.add(3);
  feed.notify();
  feed.notify(); // coalesced into one read
  await promise;
  assertEquals(got, [2, 3]);
  assertEquals(store.reads.length, 2, "one to find where to start, one for the batch");
  stop();
  feed.notify();
  assertEquals(store.reads.length, 2);
  feed.close();
});
