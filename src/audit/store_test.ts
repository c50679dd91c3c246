import { deepStrictEqual, equal, match, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AuditUnavailableError } from "../core/mod.ts";
import { RECEIPT_ID_PATTERN } from "./_id.ts";
import { GENESIS_HASH } from "./_chain_text.ts";
import { PAGE_BYTES } from "./_writer.ts";
import { receiptInput, storeTest, withTempDir } from "./_testing.ts";
import { countRows, storedIds } from "./_store_testing.ts";
import { queryReceipts } from "./query.ts";
import { verifyChain } from "./verify.ts";

storeTest(
  "record() returns unique, time-ordered ids before the receipts are committed",
  async (open) => {
    await withTempDir(async (dir) => {
      const store = open(`${dir}/receipts.db`);
      const ids = Array.from({ length: 300 }, () => store.record(receiptInput()));
      equal(countRows(store.path), 0);
      equal(store.queued, 300);
      for (const id of ids) match(id, RECEIPT_ID_PATTERN);
      equal(new Set(ids).size, ids.length);
      deepStrictEqual([...ids].sort(), ids);
      await store.flushed();
      equal(store.queued, 0);
      deepStrictEqual(storedIds(store.path), ids);
      await store.close();
    });
  },
);

storeTest("record() round-trips every field of the receipt", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const full = receiptInput({ upstreamStatus: 201, mode: "observe", wouldBe: "deny" });
    const sparse = receiptInput({
      agent: null,
      profile: null,
      endpoint: null,
      rule: null,
      protocol: "gateway",
      facts: null,
      approvals: [],
      verdict: "allow",
      bytesIn: 0,
      latencyMs: 0,
    });
    const ids = [store.record(full), store.record(sparse)];
    await store.close();
    const [first, second] = queryReceipts(store.path);
    deepStrictEqual(first, {
      ...full,
      id: ids[0],
      seq: 1,
      prevHash: GENESIS_HASH,
      hash: first.hash,
    });
    deepStrictEqual(second, {
      ...sparse,
      id: ids[1],
      seq: 2,
      prevHash: first.hash,
      hash: second.hash,
    });
    match(first.hash, /^[0-9a-f]{64}$/);
  });
});

storeTest(
  "record() stores BigInt facts and text SQLite cannot hold verbatim, chain intact",
  async (open) => {
    await withTempDir(async (dir) => {
      const store = open(`${dir}/receipts.db`);
      store.record(receiptInput({
        summary: "SELECT 1\0; DROP TABLE users \ud800",
        facts: { http: { port: 443n, huge: 2n ** 70n, body: "a\0b" } },
      }));
      await store.close();
      const [receipt] = queryReceipts(store.path);
      equal(receipt.summary, "SELECT 1\uFFFD; DROP TABLE users \uFFFD");
      deepStrictEqual(receipt.facts, {
        http: { port: 443, huge: "1180591620717411303424", body: "a\0b" },
      });
      deepStrictEqual(verifyChain(store.path), { ok: true, rows: 1 });
    });
  },
);

storeTest("record() rejects a malformed input with TypeError and queues nothing", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad = [
      { time: new Date(NaN) },
      { verdict: "maybe" as "deny" },
      { bytesIn: -1 },
      { latencyMs: Infinity },
      { agent: 7 as unknown as string },
      { facts: cyclic },
    ];
    for (const override of bad) throws(() => store.record(receiptInput(override)), TypeError);
    equal(store.queued, 0);
    await store.close();
    equal(countRows(store.path), 0);
  });
});

storeTest("the hash chain continues across close and reopen", async (open) => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const first = open(path);
    for (let i = 0; i < 3; i++) first.record(receiptInput({ reason: `first ${i}` }));
    await first.close();
    const second = open(path);
    for (let i = 0; i < 2; i++) second.record(receiptInput({ reason: `second ${i}` }));
    await second.close();
    const rows = queryReceipts(path);
    deepStrictEqual(rows.map((r) => r.seq), [1, 2, 3, 4, 5]);
    equal(rows[0].prevHash, GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) equal(rows[i].prevHash, rows[i - 1].hash);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 5 });
  });
});

storeTest("two stores appending to one database keep a single chain", async (open) => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const a = open(path);
    const b = open(path);
    for (let i = 0; i < 5; i++) {
      a.record(receiptInput({ agent: "a" }));
      await a.flushed();
      b.record(receiptInput({ agent: "b" }));
      await b.flushed();
    }
    await Promise.all([a.close(), b.close()]);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 10 });
  });
});

storeTest("record() throws AuditUnavailableError once the queue is full", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`, { maxQueue: 3 });
    const ids = [1, 2, 3].map(() => store.record(receiptInput()));
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    await store.flushed();
    ids.push(store.record(receiptInput()));
    await store.close();
    deepStrictEqual(storedIds(store.path), ids);
  });
});

storeTest("open() puts the database in WAL mode", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const db = new DatabaseSync(store.path);
    deepStrictEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    db.close();
    await store.close();
  });
});

storeTest("a new receipts file gets 8 KiB pages; an existing one keeps its own", async (open) => {
  await withTempDir(async (dir) => {
    const pageSize = (path: string) => {
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        return (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
      } finally {
        db.close();
      }
    };
    const fresh = open(`${dir}/new.db`);
    fresh.record(receiptInput());
    await fresh.close();
    equal(pageSize(`${dir}/new.db`), PAGE_BYTES);
    // A file made with SQLite's default pages, as older gateways made them.
    const older = new DatabaseSync(`${dir}/old.db`);
    older.exec("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)");
    older.close();
    const reopened = open(`${dir}/old.db`);
    const ids = [reopened.record(receiptInput()), reopened.record(receiptInput())];
    await reopened.close();
    equal(pageSize(`${dir}/old.db`), 4096);
    deepStrictEqual(storedIds(`${dir}/old.db`), ids);
  });
});
