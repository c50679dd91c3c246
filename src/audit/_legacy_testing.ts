/**
 * Receipts files as gateways before schema 4 wrote them, for the migration's tests here and in
 * `tests/`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { canonicalRow, LEGACY_COLUMNS, type LegacyRow } from "./_legacy_rows.ts";
import { toPendingRow } from "./_row.ts";
import { receiptInput } from "./_testing.ts";
import { GENESIS_HASH } from "./_chain_text.ts";

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
export function legacyFile(path: string, version: 1 | 2 | 3, n: number): void {
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
