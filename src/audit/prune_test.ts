import { deepStrictEqual, equal, match } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { ReceiptInput } from "../core/mod.ts";
import { checkpointOf, pruneBatch } from "./prune.ts";
import { queryReceipts } from "./query.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";
import { outcomeInput, receiptInput, withTempDir } from "./_testing.ts";

const DAY = 86_400_000;

/** A store with `old` receipts 10 days old (each with an outcome) and `fresh` ones of now. */
async function store(path: string, old: number, fresh: number): Promise<void> {
  const store = ReceiptStore.open(path);
  const then = new Date(Date.now() - 10 * DAY);
  const allowed: Partial<ReceiptInput> = {
    time: then,
    verdict: "allow",
    wouldBe: "allow",
    approvals: [],
  };
  const reserved = Array.from({ length: old }, () => store.reserve(receiptInput(allowed)));
  // Once on disk, outcomes go to their own table (before, they would join their receipt's row).
  await store.flushed();
  for (const r of reserved) r.complete(outcomeInput({ time: then }));
  for (let i = 0; i < fresh; i++) store.record(receiptInput({ time: new Date() }));
  await store.close();
}

Deno.test("pruning removes old receipts in batches and the rest still verifies from the cut", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    await store(path, 25, 5);
    const cutoff = new Date(Date.now() - DAY);
    let rounds = 0;
    while (pruneBatch(path, cutoff, 10).receipts > 0) rounds++;
    equal(rounds, 3, "25 old receipts in batches of 10");
    equal(queryReceipts(path).length, 5);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 5 });
    const db = new DatabaseSync(path, { readOnly: true });
    equal(checkpointOf(db, "receipts")?.seq, 25);
    equal(checkpointOf(db, "outcomes")?.seq, 24, "the newest outcome always stays");
    db.close();
    // New receipts continue the chain after the cut.
    const more = ReceiptStore.open(path);
    more.record(receiptInput({ time: new Date() }));
    await more.close();
    deepStrictEqual(verifyChain(path), { ok: true, rows: 6 });
  });
});

Deno.test("after pruning, an edited or a deleted row is still caught", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    await store(path, 4, 4);
    while (pruneBatch(path, new Date(Date.now() - DAY)).receipts > 0) { /* all old ones */ }
    const edit = (sql: string) => {
      const db = new DatabaseSync(path);
      db.exec(sql);
      db.close();
    };
    edit(
      "UPDATE receipts SET canonical = json_set(canonical, '$.summary', 'tampered') WHERE seq = 6",
    );
    const edited = verifyChain(path);
    equal(edited.ok, false);
    if (!edited.ok) {
      equal(edited.brokenSeq, 6);
      match(edited.problem, /edited/);
    }
    edit(
      "UPDATE receipts SET canonical = json_set(canonical, '$.summary', " +
        "(SELECT canonical ->> '$.summary' FROM receipts WHERE seq = 7)) WHERE seq = 6",
    );
    deepStrictEqual(verifyChain(path), { ok: true, rows: 4 }, "restored");
    edit("DELETE FROM receipts WHERE seq = 5");
    const deleted = verifyChain(path);
    equal(deleted.ok, false);
    if (!deleted.ok) match(deleted.problem, /seq jumps from 4 to 6/);
  });
});

Deno.test("a checkpoint that no longer matches the first receipt left is caught", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    await store(path, 4, 4);
    while (pruneBatch(path, new Date(Date.now() - DAY)).receipts > 0) { /* all old ones */ }
    const db = new DatabaseSync(path);
    db.exec(`UPDATE meta SET value = '${"f".repeat(64)}' WHERE key = 'receipts_pruned_hash'`);
    db.close();
    const moved = verifyChain(path);
    equal(moved.ok, false);
    if (!moved.ok) equal(moved.brokenSeq, 5);
  });
});

Deno.test("the newest receipt is never pruned, so a restarted writer continues the chain", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    await store(path, 3, 0);
    while (pruneBatch(path, new Date()).receipts > 0) { /* everything it may */ }
    equal(queryReceipts(path).length, 1);
    const more = ReceiptStore.open(path);
    more.record(receiptInput({ time: new Date() }));
    await more.close();
    deepStrictEqual(verifyChain(path), { ok: true, rows: 2 });
  });
});
