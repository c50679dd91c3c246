// Large batches: the writer inserts receipts many to a statement while enough are left, and
// one by one otherwise, with outcomes interleaved. Whatever the split, the chain is one, in order,
// and a batch lands whole or not at all.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { outcomeInput, receiptInput, storeTest, withTempDir } from "./_testing.ts";
import { countRows, storedIds } from "./_store_testing.ts";
import { queryReceipts } from "./query.ts";
import { verifyChain } from "./verify.ts";

storeTest(
  "a batch of receipts and outcomes past one statement's rows keeps one chain",
  async (open) => {
    await withTempDir(async (dir) => {
      const path = `${dir}/receipts.db`;
      const batches: number[] = [];
      const store = open(path, { onFlush: ({ rows }) => batches.push(rows) });
      const ids: string[] = [];
      // 137 receipts (two full statements of 50 and 37 left over), every fourth one completed
      // while the batch is still queued, and a deny every tenth.
      for (let i = 0; i < 137; i++) {
        if (i % 10 === 9) {
          ids.push(store.record(receiptInput({ bytesOut: i })));
          continue;
        }
        const reservation = store.reserve(receiptInput({ verdict: "allow", bytesOut: i }));
        ids.push(reservation.id);
        if (i % 4 === 0) reservation.complete(outcomeInput({ upstreamStatus: 200 + (i % 100) }));
      }
      await store.close();
      ok(batches.length >= 1 && batches[0] > 100, `one large batch, got ${batches}`);
      equal(countRows(path), 137);
      deepStrictEqual(storedIds(path), ids);
      deepStrictEqual(verifyChain(path), { ok: true, rows: 137 });
      const stored = queryReceipts(path);
      deepStrictEqual(stored.map((r) => r.seq), Array.from({ length: 137 }, (_, i) => i + 1));
      for (const [i, r] of stored.entries()) {
        const completed = i % 10 !== 9 && i % 4 === 0;
        if (!completed) equal(r.bytesOut, i, `receipt ${i}`);
        equal(r.upstreamStatus, completed ? 200 + (i % 100) : null, `outcome of receipt ${i}`);
      }
    });
  },
);

storeTest("a row refused inside a many-row statement rolls back the whole batch", async (open) => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const errors: Error[] = [];
    const store = open(path, { onError: (e) => errors.push(e) });
    await store.flushed();
    // Row 75 falls in the second statement of 50: its failure must take rows 1–74 with it.
    const db = new DatabaseSync(path, { timeout: 5000 }); // waits out the writer's retries
    db.exec(`CREATE TRIGGER refuse_75 BEFORE INSERT ON receipts WHEN NEW.seq = 75
      BEGIN SELECT RAISE(ABORT, 'row 75 refused'); END`);
    const ids = Array.from({ length: 120 }, (_, i) => store.record(receiptInput({ bytesOut: i })));
    for (let waited = 0; errors.length === 0 && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    match(errors[0]?.message ?? "", /row 75 refused/);
    equal(countRows(path), 0);
    db.exec("DROP TRIGGER refuse_75");
    db.close();
    // The writer retries on its own and the whole batch lands, in order.
    for (let waited = 0; countRows(path) < 120 && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await store.close();
    deepStrictEqual(storedIds(path), ids);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 120 });
  });
});
