import { deepStrictEqual, equal, match, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { rowHash, type StoredRow } from "./_row.ts";
import { outcomeInput, receiptInput, withTempDir } from "./_testing.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";
import { queryReceipts } from "./query.ts";

/** Writes `n` receipts and returns the database path. */
async function seeded(dir: string, n: number): Promise<string> {
  const store = ReceiptStore.open(`${dir}/receipts.db`);
  for (let i = 1; i <= n; i++) store.record(receiptInput({ reason: `reason ${i}`, bytesOut: i }));
  await store.close();
  return store.path;
}

/** Runs `fn` against a separate read-write connection, as a tamperer would. */
function tamper(path: string, fn: (db: DatabaseSync) => void): void {
  const db = new DatabaseSync(path);
  try {
    fn(db);
  } finally {
    db.close();
  }
}

Deno.test("verifyChain() passes an intact database", async () => {
  await withTempDir(async (dir) => {
    deepStrictEqual(verifyChain(await seeded(dir, 50)), { ok: true, rows: 50 });
  });
});

Deno.test("verifyChain() passes an empty database", async () => {
  await withTempDir(async (dir) => {
    deepStrictEqual(verifyChain(await seeded(dir, 0)), { ok: true, rows: 0 });
  });
});

Deno.test("verifyChain() reports the first edited receipt", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 6);
    tamper(path, (db) => {
      db.exec("UPDATE receipts SET reason = 'nothing to see' WHERE seq = 3");
      db.exec("UPDATE receipts SET verdict = 'allow' WHERE seq = 5");
    });
    const result = verifyChain(path);
    equal(result.ok, false);
    if (result.ok) return;
    deepStrictEqual([result.brokenSeq, result.rows], [3, 2]);
    match(result.problem, /edited/);
  });
});

Deno.test("verifyChain() catches an edit to the stored facts JSON", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 3);
    tamper(path, (db) => db.exec(`UPDATE receipts SET facts = '{}' WHERE seq = 2`));
    const result = verifyChain(path);
    deepStrictEqual(result.ok ? undefined : result.brokenSeq, 2);
  });
});

Deno.test("verifyChain() reports a deleted middle receipt at its successor", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 5);
    tamper(path, (db) => db.exec("DELETE FROM receipts WHERE seq = 3"));
    const result = verifyChain(path);
    equal(result.ok, false);
    if (result.ok) return;
    deepStrictEqual([result.brokenSeq, result.rows], [4, 2]);
    match(result.problem, /seq jumps from 2 to 4/);
  });
});

Deno.test("verifyChain() reports a deleted first receipt", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 3);
    tamper(path, (db) => db.exec("DELETE FROM receipts WHERE seq = 1"));
    const result = verifyChain(path);
    deepStrictEqual(result.ok ? undefined : [result.brokenSeq, result.rows], [2, 0]);
  });
});

Deno.test("verifyChain() catches a deletion hidden by renumbering", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 5);
    tamper(path, (db) => {
      db.exec("DELETE FROM receipts WHERE seq = 3");
      db.exec("UPDATE receipts SET seq = seq - 1 WHERE seq > 3");
    });
    const result = verifyChain(path);
    deepStrictEqual(result.ok ? undefined : result.brokenSeq, 3);
  });
});

Deno.test("verifyChain() reports the successor of an edited receipt whose hash was recomputed", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 5);
    tamper(path, (db) => {
      const row = db.prepare("SELECT * FROM receipts WHERE seq = 3").get() as unknown as StoredRow;
      const forged = { ...row, reason: "approved by ops" };
      db.prepare("UPDATE receipts SET reason = ?, hash = ? WHERE seq = 3")
        .run(forged.reason, rowHash(forged));
    });
    const result = verifyChain(path);
    equal(result.ok, false);
    if (result.ok) return;
    deepStrictEqual([result.brokenSeq, result.rows], [4, 3]);
    match(result.problem, /prev_hash does not match the hash of receipt 3/);
  });
});

Deno.test("verifyChain() reads a database while a store is writing to it", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    for (let i = 0; i < 10; i++) store.record(receiptInput());
    await store.flushed();
    store.record(receiptInput()); // queued, not yet committed
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 10 });
    await store.close();
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 11 });
  });
});

Deno.test("verifyChain() throws for a missing database", async () => {
  await withTempDir((dir) => {
    throws(() => verifyChain(`${dir}/nope.db`), /Cannot read receipts database/);
  });
});

Deno.test("verifyChain() checks outcomes: an edited or deleted outcome breaks their chain", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    for (let i = 0; i < 3; i++) {
      const r = store.reserve(receiptInput({ verdict: "allow", wouldBe: "allow" }), {
        durable: true,
      });
      await r.durable;
      r.complete(outcomeInput({ bytesOut: i }));
    }
    await store.close();
    const path = store.path;
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    tamper(path, (db) => db.exec("UPDATE outcomes SET upstream_status = 500 WHERE seq = 2"));
    const edited = verifyChain(path);
    equal(edited.ok, false);
    if (!edited.ok) {
      equal(edited.table, "outcomes");
      equal(edited.brokenSeq, 2);
      match(edited.problem, /edited/);
    }
    tamper(path, (db) => db.exec("DELETE FROM outcomes WHERE seq = 2"));
    const deleted = verifyChain(path);
    equal(deleted.ok, false);
    if (!deleted.ok) match(deleted.problem, /jumps from 1 to 3/);
  });
});

Deno.test("verifyChain() keeps version 1 rows valid after the upgrade to outcomes", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 3);
    // Back to a version 1 file: no outcomes table, no ahead column, the same hashes.
    tamper(path, (db) => {
      db.exec("DROP TABLE outcomes");
      db.exec("ALTER TABLE receipts DROP COLUMN ahead");
      db.exec("ALTER TABLE receipts DROP COLUMN policy");
      db.exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    });
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    const store = ReceiptStore.open(path); // migrates to the current version
    store.record(receiptInput());
    await store.close();
    deepStrictEqual(verifyChain(path), { ok: true, rows: 4 });
  });
});

Deno.test("verifyChain() keeps version 2 rows valid, and the policy digest is in the hash", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 2);
    tamper(path, (db) => {
      db.exec("ALTER TABLE receipts DROP COLUMN policy");
      db.exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    });
    deepStrictEqual(verifyChain(path), { ok: true, rows: 2 });
    const store = ReceiptStore.open(path); // migrates to version 3
    store.record({ ...receiptInput(), policy: "0123456789abcdef" });
    await store.close();
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    equal(queryReceipts(path).at(-1)?.policy, "0123456789abcdef");
    // Another policy written over the recorded one breaks the chain.
    tamper(path, (db) => db.exec("UPDATE receipts SET policy = 'fedcba9876543210' WHERE seq = 3"));
    equal(verifyChain(path).ok, false);
  });
});
