/**
 * Committed receipt rows exactly as stored, for copying a gateway's chain elsewhere (the shared
 * store keeps one chain per gateway): the rows after a position, the canonical text a row's hash
 * covers, and the receipt a row stands for. Outcomes stay in the local database.
 *
 * @module
 */

import { openReadOnly } from "./_schema.ts";
import { canonicalRow, rowHash, type StoredRow, toReceipt } from "./_row.ts";
import { type Checkpoint, checkpointOf } from "./prune.ts";
import type { Receipt } from "../core/mod.ts";

export type { StoredRow } from "./_row.ts";
export { canonicalRow, rowHash };

/**
 * Up to `limit` committed rows with `seq` above `afterSeq`, in chain order. Opens its own
 * read-only connection, so it works while a gateway writes.
 *
 * @example
 * ```ts
 * const rows = storedRowsAfter("./state/receipts.db", 0, 500);
 * ```
 */
export function storedRowsAfter(path: string, afterSeq: number, limit: number): StoredRow[] {
  const db = openReadOnly(path);
  try {
    return db.prepare("SELECT * FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?")
      .all(afterSeq, limit) as unknown as StoredRow[];
  } finally {
    db.close();
  }
}

/**
 * Where the receipt chain at `path` starts after retention pruned it (the last removed receipt's
 * seq and hash), or `null` when nothing was pruned: a copy of the chain cuts at the same place.
 *
 * @example
 * ```ts
 * const cut = storedCheckpoint("./state/receipts.db"); // { seq: 120, hash: "…" } or null
 * ```
 */
export function storedCheckpoint(path: string): Checkpoint | null {
  const db = openReadOnly(path);
  try {
    return checkpointOf(db, "receipts");
  } finally {
    db.close();
  }
}

/**
 * The row a canonical text (see {@linkcode canonicalRow}) and its hash describe: what a copy of
 * the chain keeps is enough to show the receipt and to check its hash again.
 *
 * @example
 * ```ts
 * const row = rowOfCanonical(text, hash);
 * rowHash(row) === hash; // unless the text was edited
 * ```
 */
export function rowOfCanonical(canonical: string, hash: string): StoredRow {
  const parsed = JSON.parse(canonical);
  return { ...parsed, ahead: parsed.ahead ?? 0, policy: parsed.policy ?? null, hash };
}

/** The receipt a stored row stands for, without its outcome (that stays local). */
export function receiptOfRow(row: StoredRow): Receipt {
  const { outcome: _outcome, ...receipt } = toReceipt(row);
  return receipt;
}
