import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Receipt } from "../core/mod.ts";
import { receiptInput, withTempDir } from "./_testing.ts";
import { GENESIS_HASH } from "./_chain_text.ts";
import { legacyFile } from "./_legacy_testing.ts";
import { queryReceipts } from "./query.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";
import { pruneBatch } from "./prune.ts";
import type { MigrationStep } from "./_schema.ts";

function columnsOf(path: string): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT name FROM pragma_table_info('receipts')").all().map((r) =>
      String(r.name)
    );
  } finally {
    db.close();
  }
}

function schemaOf(path: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return String(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()?.value);
  } finally {
    db.close();
  }
}

for (const version of [1, 2, 3] as const) {
  Deno.test(`a schema ${version} file reads as it was, migrates keeping every hash, and the chain goes on`, async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/receipts.db`;
      legacyFile(path, version, 7);
      // Read-only, before any gateway opened it: through the view, nothing written.
      deepStrictEqual(verifyChain(path), { ok: true, rows: 7 });
      const before: Receipt[] = queryReceipts(path);
      equal(schemaOf(path), String(version));
      equal(before.length, 7);
      deepStrictEqual(before[1].facts, { sql: { verb: "select", tables: ["t2"], rows: 2 } });
      equal(before[2].reason, 'reason 3 "quoted" \\ ünïcode');
      equal(before[0].prevHash, GENESIS_HASH);
      if (version === 3) equal(before[1].policy, "0123456789abcdef");

      const store = ReceiptStore.open(path, { worker: false });
      store.record(receiptInput({ reason: "after the migration" }));
      await store.close();
      equal(schemaOf(path), "4");
      deepStrictEqual(columnsOf(path), ["seq", "id", "canonical", "hash"]);
      const after = queryReceipts(path);
      deepStrictEqual(after.slice(0, 7), before, "old receipts read back unchanged");
      equal(after[7].prevHash, before[6].hash);
      equal(after[7].reason, "after the migration");
      deepStrictEqual(verifyChain(path), { ok: true, rows: 8 });
    });
  });
}

Deno.test("an edit made before the migration is still caught after it, at the same receipt", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    legacyFile(path, 3, 6);
    const db = new DatabaseSync(path);
    db.exec("UPDATE receipts SET reason = 'nothing to see' WHERE seq = 4");
    db.close();
    const read = verifyChain(path);
    deepStrictEqual(read.ok ? null : [read.brokenSeq, read.rows], [4, 3]);
    await ReceiptStore.open(path, { worker: false }).close();
    equal(schemaOf(path), "4");
    const migrated = verifyChain(path);
    deepStrictEqual(migrated.ok ? null : [migrated.brokenSeq, migrated.rows], [4, 3]);
    if (!migrated.ok) match(migrated.problem, /edited/);
  });
});

Deno.test("a legacy row whose predecessor was deleted is named as such after the migration", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    legacyFile(path, 3, 6);
    const db = new DatabaseSync(path);
    db.exec("DELETE FROM receipts WHERE seq = 3; UPDATE receipts SET seq = seq - 1 WHERE seq > 3");
    db.close();
    await ReceiptStore.open(path, { worker: false }).close();
    const result = verifyChain(path);
    ok(!result.ok);
    equal(result.brokenSeq, 3);
    match(result.problem, /prev_hash does not match the hash of receipt 2/);
  });
});

Deno.test("pruning a schema 3 file migrates it first and leaves a chain that verifies", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/receipts.db`;
    legacyFile(path, 3, 5);
    // receiptInput's time is 2025-06-01: a cut-off after it removes all but the newest.
    deepStrictEqual(pruneBatch(path, new Date("2026-01-01T00:00:00Z")), {
      receipts: 4,
      outcomes: 0,
    });
    equal(schemaOf(path), "4");
    deepStrictEqual(verifyChain(path), { ok: true, rows: 1 });
  });
});

Deno.test("opening an older file tells how far its migration has come, once", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    legacyFile(path, 2, 5);
    const steps: MigrationStep[] = [];
    await ReceiptStore.open(path, { worker: false, onMigration: (s) => steps.push(s) }).close();
    deepStrictEqual(steps, [{ from: "2", done: 0, total: 5 }, { from: "2", done: 5, total: 5 }]);
    // Already schema 4: nothing to tell.
    await ReceiptStore.open(path, { worker: false, onMigration: (s) => steps.push(s) }).close();
    equal(steps.length, 2);
    // An older file without receipts has nothing to wait for: only its end is told.
    const empty = `${dir}/empty.db`;
    legacyFile(empty, 3, 0);
    const told: MigrationStep[] = [];
    await ReceiptStore.open(empty, { worker: false, onMigration: (s) => told.push(s) }).close();
    deepStrictEqual(told, [{ from: "3", done: 0, total: 0 }]);
  });
});

Deno.test("a migration that fails leaves the older file as it was, and the store does not open", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/receipts.db`;
    legacyFile(path, 3, 4);
    // A table in the way of the rewrite stands for any failure inside it (a full disk, say).
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE receipts_v4 (unrelated TEXT)");
    db.close();
    const before = queryReceipts(path);
    throws(() => ReceiptStore.open(path, { worker: false }), /Cannot open receipts database/);
    equal(schemaOf(path), "3");
    deepStrictEqual(queryReceipts(path), before);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 4 });
  });
});
