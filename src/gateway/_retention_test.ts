import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { pruneBatch, queryReceipts, ReceiptStore, verifyChain } from "../audit/mod.ts";
import type { Config } from "../config/mod.ts";
import { MemoryLogger } from "./log.ts";
import { Retention } from "./_retention.ts";

const DAY = 86_400_000;

function receipt(time: Date) {
  return {
    time,
    agent: "bot",
    profile: "bots",
    endpoint: "api",
    protocol: "https",
    summary: "GET api.test/x",
    facts: {},
    rule: null,
    mode: "enforce" as const,
    verdict: "deny" as const,
    wouldBe: "deny" as const,
    reason: "no rule matched",
    approvals: [],
    upstreamStatus: null,
    bytesIn: 0,
    bytesOut: 0,
    latencyMs: 1,
  };
}

/** Pruning a store no gateway has open, as `clawpatrol` could offline. */
const offline = (path: string) => (cutoff: Date) =>
  Promise.resolve().then(() => pruneBatch(path, cutoff));

function configKeeping(keepMs: number | null): () => Config {
  return () =>
    ({ gateway: { receipts: { bodies: "sample", sampleBytes: 4096, keepMs } } }) as Config;
}

Deno.test("retention prunes what is older than keep, keeps the rest verifiable, and logs it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_retention_" });
  try {
    const path = join(dir, "receipts.db");
    const store = ReceiptStore.open(path);
    for (let i = 0; i < 1_200; i++) store.record(receipt(new Date(Date.now() - 40 * DAY)));
    for (let i = 0; i < 3; i++) store.record(receipt(new Date()));
    await store.close();
    const log = new MemoryLogger();
    const retention = new Retention(offline(path), configKeeping(30 * DAY), log);
    await retention.round();
    equal(queryReceipts(path).length, 3);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    ok(log.messages("info").some((m) => m.startsWith("pruned 1200 receipts")));
    // Nothing older is left: the next round removes nothing and says nothing.
    await retention.round();
    equal(log.messages("info").length, 1);
    await retention.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without keep nothing is pruned; a missing store is logged, not thrown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_retention_" });
  try {
    const path = join(dir, "receipts.db");
    const store = ReceiptStore.open(path);
    store.record(receipt(new Date(Date.now() - 400 * DAY)));
    store.record(receipt(new Date()));
    await store.close();
    await new Retention(offline(path), configKeeping(null), new MemoryLogger()).round();
    equal(queryReceipts(path).length, 2);
    const log = new MemoryLogger();
    await new Retention(offline(join(dir, "missing", "r.db")), configKeeping(DAY), log).round();
    ok(log.messages("error").some((m) => m.includes("not pruned")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pruning while the gateway keeps writing loses nothing new and verifies after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_retention_" });
  try {
    const path = join(dir, "receipts.db");
    const store = ReceiptStore.open(path);
    for (let i = 0; i < 3_000; i++) store.record(receipt(new Date(Date.now() - 40 * DAY)));
    await store.flushed();
    // As the gateway prunes: in the store's writer, between its commits.
    const retention = new Retention(
      (c) => store.prune(c),
      configKeeping(30 * DAY),
      new MemoryLogger(),
    );
    const pruning = retention.round();
    // Writes go on through the store's writer while the batches run.
    for (let i = 0; i < 500; i++) {
      store.record(receipt(new Date()));
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await pruning;
    await retention.round();
    await store.close();
    equal(queryReceipts(path).length, 500);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 500 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
