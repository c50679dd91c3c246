// Receipts written ahead of forwarding: the decision row first (durable on request), the outcome
// after, and a store that refuses receipts while it cannot commit them.
import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { AuditUnavailableError, type ReceiptInput } from "../core/mod.ts";
import { RECEIPT_ID_PATTERN } from "./_id.ts";
import { outcomeInput, receiptInput, storeTest, withTempDir } from "./_testing.ts";
import { queryReceipts } from "./query.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";

const ALLOW: Partial<ReceiptInput> = { verdict: "allow", wouldBe: "allow", approvals: [] };

function count(path: string, table: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

storeTest(
  "a durable reservation is on disk before it resolves; its outcome comes after",
  async (open) => {
    await withTempDir(async (dir) => {
      // A long group-commit interval: only the durable request can explain a prompt commit.
      const store = open(`${dir}/receipts.db`, { commitIntervalMs: 1000 });
      await store.ready();
      store.record(receiptInput()); // an earlier deny starts the interval
      await store.flushed();
      const receipt = store.reserve(receiptInput(ALLOW), { durable: true });
      match(receipt.id, RECEIPT_ID_PATTERN);
      await receipt.durable;
      equal(count(store.path, "receipts"), 2);
      let [, row] = queryReceipts(store.path);
      equal(row.id, receipt.id);
      equal(row.verdict, "allow");
      // Written ahead, nothing happened yet: a crash now leaves exactly this.
      equal(row.outcome, null);
      receipt.complete(
        outcomeInput({ upstreamStatus: 201, bytesOut: 99, error: "agent went away" }),
      );
      equal(store.reserved, 0);
      await store.close();
      [, row] = queryReceipts(store.path);
      equal(row.upstreamStatus, 201);
      equal(row.bytesOut, 99);
      equal(row.outcome?.error, "agent went away");
      match(row.reason, /\(agent went away\)$/);
      equal(count(store.path, "outcomes"), 1);
      deepStrictEqual(verifyChain(store.path), { ok: true, rows: 2 });
    });
  },
);

Deno.test("an outcome known before the receipt left the process is written in the same row", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    const receipt = store.reserve(receiptInput(ALLOW));
    // Same tick (a sibling statement was denied): one row, a deny, nothing saying allow.
    receipt.complete(outcomeInput({ upstreamStatus: null, error: "not run", notRun: true }));
    await store.close();
    const [row] = queryReceipts(store.path);
    equal(row.verdict, "deny");
    equal(row.wouldBe, "allow");
    equal(row.outcome, undefined);
    match(row.reason, /\(not run\)$/);
    equal(count(store.path, "outcomes"), 0);
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 1 });
  });
});

Deno.test("an outcome's error with a NUL or a lone surrogate is stored as hashed, merged or not", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    const error = "upstream said \0 and \ud800";
    // Same tick: merged into the receipt's own row.
    store.reserve(receiptInput(ALLOW)).complete(outcomeInput({ error }));
    // After the row left: an outcome row of its own.
    const later = store.reserve(receiptInput(ALLOW));
    await store.flushed();
    later.complete(outcomeInput({ error }));
    await store.close();
    const [merged, separate] = queryReceipts(store.path);
    match(merged.reason, /\(upstream said \uFFFD and \uFFFD\)$/);
    equal(separate.outcome?.error, "upstream said \uFFFD and \uFFFD");
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 2 });
  });
});

storeTest(
  "reservations hold room for their outcome; a full queue refuses new receipts",
  async (open) => {
    await withTempDir(async (dir) => {
      const store = open(`${dir}/receipts.db`, { maxQueue: 3 });
      const held = store.reserve(receiptInput(ALLOW)); // its row and its outcome to come
      store.record(receiptInput());
      throws(() => store.record(receiptInput()), AuditUnavailableError);
      throws(() => store.reserve(receiptInput(ALLOW)), AuditUnavailableError);
      await store.flushed();
      store.record(receiptInput());
      held.complete(outcomeInput());
      throws(() => held.complete(outcomeInput()), TypeError);
      await store.close();
      equal(queryReceipts(store.path).length, 3);
      ok(verifyChain(store.path).ok);
    });
  },
);

storeTest("an outcome recorded after close() began is still written", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const receipt = store.reserve(receiptInput(ALLOW), { durable: true });
    await receipt.durable;
    const closing = store.close();
    throws(() => store.reserve(receiptInput(ALLOW)), AuditUnavailableError);
    receipt.complete(outcomeInput({ bytesOut: 7 }));
    await closing;
    equal(queryReceipts(store.path)[0].bytesOut, 7);
  });
});

storeTest(
  "while commits fail the store refuses receipts, says why, and resumes by itself",
  async (open) => {
    await withTempDir(async (dir) => {
      const health: (string | null)[] = [];
      const store = open(`${dir}/receipts.db`, { onHealth: (p) => health.push(p) });
      await store.ready();
      // Another connection holds the write lock: every commit fails with "database is locked".
      const blocker = new DatabaseSync(store.path);
      blocker.exec("BEGIN IMMEDIATE");
      const receipt = store.reserve(receiptInput(ALLOW), { durable: true });
      await rejects(receipt.durable, AuditUnavailableError);
      match(store.problem() ?? "", /receipts cannot be written: .*locked/);
      throws(() => store.record(receiptInput()), /receipts cannot be written/);
      throws(() => store.reserve(receiptInput(ALLOW)), AuditUnavailableError);
      receipt.complete(outcomeInput({ notRun: true, error: "not forwarded" }));
      blocker.exec("ROLLBACK");
      blocker.close();
      // The writer's own retry commits what was queued; no call from here is needed.
      for (let i = 0; store.problem() !== null && i < 300; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      equal(store.problem(), null);
      deepStrictEqual(health.length, 2);
      match(health[0] ?? "", /locked/);
      equal(health[1], null);
      store.record(receiptInput());
      await store.close();
      const rows = queryReceipts(store.path);
      equal(rows.length, 2);
      equal(rows[0].outcome?.notRun, true);
      ok(verifyChain(store.path).ok);
    });
  },
);

Deno.test("receipts.db is created 0600, and an existing one is narrowed to 0600", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    await ReceiptStore.open(path).close();
    equal(Deno.statSync(path).mode! & 0o777, 0o600);
    Deno.chmodSync(path, 0o644);
    const store = ReceiptStore.open(path);
    store.record(receiptInput());
    await store.flushed();
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      equal(Deno.statSync(file).mode! & 0o777, 0o600, file);
    }
    await store.close();
  });
});

Deno.test("a durable reservation commits on the next turn, not after a timer", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`, { worker: false });
    await store.flushed();
    // Deno fires a 0 ms timer ~2 ms later: a commit "now" that went through one made every
    // durable write wait that long. The writer's turn is queued before this test's, so the
    // commit is done by the time the test's turn comes, whatever the clock says.
    let committed = false;
    const receipt = store.reserve(receiptInput(ALLOW), { durable: true });
    void receipt.durable.then(() => committed = true);
    await new Promise((resolve) => setImmediate(resolve));
    equal(committed, true);
    receipt.complete(outcomeInput());
    await store.close();
  });
});

storeTest("durable reservations made in one turn share one commit", async (open) => {
  await withTempDir(async (dir) => {
    const batches: number[] = [];
    const store = open(`${dir}/receipts.db`, { onFlush: ({ rows }) => batches.push(rows) });
    await store.flushed();
    batches.length = 0;
    const receipts = [1, 2, 3].map(() => store.reserve(receiptInput(ALLOW), { durable: true }));
    await Promise.all(receipts.map((r) => r.durable));
    deepStrictEqual(batches, [3]);
    for (const r of receipts) r.complete(outcomeInput());
    await store.close();
  });
});
