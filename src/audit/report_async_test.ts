import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { ReceiptStore } from "./store.ts";
import { queryReceipts } from "./query.ts";
import { rolloutReport } from "./report.ts";
import { rolloutReportInWorker } from "./report_async.ts";
import { receiptInput, withTempDir } from "./_testing.ts";

Deno.test("rolloutReportInWorker() gives the figures rolloutReport() gives on the same receipts", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const store = ReceiptStore.open(path);
    for (let i = 0; i < 4; i++) store.record(receiptInput({ time: new Date() }));
    store.record(receiptInput({ time: new Date(), mode: "observe", verdict: "allow" }));
    await store.close();
    const since = new Date(Date.now() - 3600_000);
    const options = { bucketMs: 3600_000 };
    const inWorker = await rolloutReportInWorker(path, { since }, options);
    assertEquals(inWorker, rolloutReport(queryReceipts(path, { since }), options));
    assertEquals(inWorker.receipts, 5);
    assertEquals(inWorker.candidates.map((c) => [c.rule, c.wouldDeny]), [["pg-no-ddl", 1]]);
  });
});

Deno.test("rolloutReportInWorker() rejects when the store cannot be read", async () => {
  await withTempDir(async (dir) => {
    await rejects(rolloutReportInWorker(`${dir}/missing.db`, {}), Error);
  });
});
