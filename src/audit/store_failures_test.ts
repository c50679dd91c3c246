// The receipt store when writing fails: a locked database, a closed store, a newer schema,
// invalid options, a writer worker that dies.

import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AuditUnavailableError } from "../core/mod.ts";
import { outcomeInput, receiptInput, storeTest, withTempDir } from "./_testing.ts";
import { countRows, storedIds } from "./_store_testing.ts";
import { ReceiptStore, writerWorkerOf } from "./store.ts";
import { verifyChain } from "./verify.ts";

storeTest(
  "a failed flush keeps receipts queued, refuses new ones, reports the error and retries",
  async (open) => {
    await withTempDir(async (dir) => {
      const path = `${dir}/receipts.db`;
      const errors: Error[] = [];
      const store = open(path, {
        maxQueue: 4,
        busyTimeoutMs: 0,
        onError: (e) => errors.push(e),
      });
      const locker = new DatabaseSync(path);
      locker.exec("BEGIN IMMEDIATE"); // another writer holds the lock: every flush fails
      const ids = [1, 2, 3, 4].map(() => store.record(receiptInput()));
      await rejects(store.flushed(), AuditUnavailableError);
      ok(errors.length >= 1);
      match(errors[0].message, /Cannot write 4 receipts .*locked/);
      equal(store.queued, 4);
      throws(() => store.record(receiptInput()), (e: unknown) => {
        ok(e instanceof AuditUnavailableError);
        // Refused at once, not when the queue fills: nothing is forwarded while receipts fail.
        match(e.message, /receipts cannot be written: .*locked/);
        return true;
      });
      locker.exec("COMMIT");
      locker.close();
      // The backoff timer retries on its own; no flushed() call needed.
      for (let waited = 0; store.queued > 0 && waited < 3000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      equal(store.queued, 0);
      equal(countRows(path), 4);
      ids.push(store.record(receiptInput()));
      await store.close();
      deepStrictEqual(storedIds(path), ids);
    });
  },
);

storeTest("close() commits every queued receipt across several batches", async (open) => {
  await withTempDir(async (dir) => {
    const batches: number[] = [];
    const store = open(`${dir}/receipts.db`, {
      maxBatch: 500,
      onFlush: ({ rows }) => batches.push(rows),
    });
    for (let i = 0; i < 1200; i++) store.record(receiptInput({ bytesOut: i }));
    await store.close();
    deepStrictEqual(batches, [500, 500, 200]);
    equal(countRows(store.path), 1200);
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 1200 });
  });
});

storeTest(
  "close() rejects, naming the unwritten receipts, when the final flush fails",
  async (open) => {
    await withTempDir(async (dir) => {
      const path = `${dir}/receipts.db`;
      const store = open(path, { busyTimeoutMs: 0 });
      const locker = new DatabaseSync(path);
      locker.exec("BEGIN IMMEDIATE");
      store.record(receiptInput());
      store.record(receiptInput());
      await rejects(store.close(), (e: unknown) => {
        ok(e instanceof AuditUnavailableError);
        match(e.message, /with 2 receipts unwritten/);
        return true;
      });
      locker.exec("ROLLBACK");
      locker.close();
    });
  },
);

storeTest("record() after close() throws AuditUnavailableError", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const closing = store.close();
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    await closing;
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    await store.close(); // idempotent
  });
});

Deno.test("open() refuses a database written by a newer schema version", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    await ReceiptStore.open(path).close();
    const db = new DatabaseSync(path);
    db.exec("UPDATE meta SET value = '5' WHERE key = 'schema_version'");
    db.close();
    throws(() => ReceiptStore.open(path), /Cannot open receipts database .*schema version '5'/);
  });
});

Deno.test("open() rejects invalid options with RangeError", () => {
  throws(() => ReceiptStore.open(":memory:", { maxQueue: 0 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { maxBatch: 1.5 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { busyTimeoutMs: -1 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { commitIntervalMs: -5 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { sendIntervalMs: 0.5 }), RangeError);
});

Deno.test("a writer worker that dies fails the store closed: onError, then every receipt is refused", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const errors: Error[] = [];
    const store = ReceiptStore.open(path, { onError: (e) => errors.push(e) });
    await store.ready();
    store.record(receiptInput());
    await store.flushed();
    const held = store.reserve(receiptInput({ verdict: "allow" }));
    store.record(receiptInput()); // not sent before this tick ends
    // An unknown message makes the writer throw outside any handler, as a bug in it would. The
    // worker takes messages in order, so it dies before the row that flushed() sends reaches it.
    writerWorkerOf(store)!.postMessage({ type: "bogus" });
    const waiting = store.flushed();
    await rejects(waiting, AuditUnavailableError);
    equal(errors.length, 1);
    match(errors[0].message, /Receipt writer for .* stopped with 2 receipts unwritten: .*bogus/);
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    throws(() => store.reserve(receiptInput()), AuditUnavailableError);
    throws(() => held.complete(outcomeInput()), AuditUnavailableError);
    await rejects(store.flushed(), AuditUnavailableError);
    await rejects(store.close(), /with 2 receipts unwritten/);
    equal(countRows(path), 1);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 1 });
  });
});
