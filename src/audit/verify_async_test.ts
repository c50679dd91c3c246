import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";
import { verifyChainInWorker } from "./verify_async.ts";
import { receiptInput, withTempDir } from "./_testing.ts";

Deno.test("verifyChainInWorker() answers what verifyChain() does, for an intact and an edited chain", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const store = ReceiptStore.open(path);
    for (let i = 0; i < 5; i++) store.record(receiptInput());
    await store.close();
    assertEquals(await verifyChainInWorker(path), { ok: true, rows: 5 });
    const db = new DatabaseSync(path);
    db.exec(
      "UPDATE receipts SET canonical = json_set(canonical, '$.summary', 'edited') WHERE seq = 3",
    );
    db.close();
    const broken = await verifyChainInWorker(path);
    equal(broken.ok, false);
    assertEquals(broken, verifyChain(path));
  });
});
