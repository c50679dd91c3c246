import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import type { Receipt } from "../core/mod.ts";
import { canonicalRow, LEGACY_COLUMNS, type LegacyRow } from "./_legacy_rows.ts";
import { toPendingRow } from "./_row.ts";
import { receiptInput, withTempDir } from "./_testing.ts";
import { GENESIS_HASH } from "./_chain_text.ts";
import { queryReceipts } from "./query.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";
import { pruneBatch } from "./prune.ts";

// Schema 3's receipts table, as a gateway before schema 4 created it.
const SCHEMA_3 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE receipts (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time TEXT NOT NULL, agent TEXT,
  profile TEXT, endpoint TEXT, protocol TEXT NOT NULL, summary TEXT NOT NULL, facts TEXT NOT NULL,
  rule TEXT, mode TEXT NOT NULL, verdict TEXT NOT NULL, would_be TEXT NOT NULL, reason TEXT NOT NULL,
  approvals TEXT NOT NULL, upstream_status INTEGER, bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL, latency_ms REAL NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
  ahead INTEGER NOT NULL DEFAULT 0, policy TEXT
) STRICT;`;

/**
 * A schema `version` file with `n` receipts hashed as that schema did: each over its predecessor's
 * hash and `canonicalRow()`. Version 1 has no `ahead` or `policy` column, 2 no `policy`.
 */
function legacyFile(path: string, version: 1 | 2 | 3, n: number): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(SCHEMA_3);
    if (version < 3) db.exec("ALTER TABLE receipts DROP COLUMN policy");
    if (version < 2) db.exec("ALTER TABLE receipts DROP COLUMN ahead");
    db.prepare("INSERT INTO meta VALUES ('schema_version', ?)").run(String(version));
    const absent = version === 1 ? ["ahead", "policy"] : version === 2 ? ["policy"] : [];
    const columns = [...LEGACY_COLUMNS.filter((c) => !absent.includes(c)), "hash"];
    const insert = db.prepare(
      `INSERT INTO receipts (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
    );
    let prev = GENESIS_HASH;
    for (let seq = 1; seq <= n; seq++) {
      const input = receiptInput({
        reason: `reason ${seq} "quoted" \\ ünïcode`,
        facts: { sql: { verb: "select", tables: [`t${seq}`], rows: BigInt(seq) } },
        ...(version === 3 && seq % 2 === 0 ? { policy: "0123456789abcdef" } : {}),
      });
      const pending = toPendingRow(`r_legacy_${String(seq).padStart(4, "0")}`, input);
      const ahead: 0 | 1 = version >= 2 && seq % 3 === 0 ? 1 : 0;
      const row: LegacyRow = { ...pending, seq, prev_hash: prev, ahead };
      const hash = createHash("sha256").update(prev).update(canonicalRow(row)).digest("hex");
      const values = { ...row, hash } as Record<string, unknown>;
      insert.run(...columns.map((c) => values[c] as string | number | null));
      prev = hash;
    }
  } finally {
    db.close();
  }
}

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
