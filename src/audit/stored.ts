/**
 * Committed receipt and outcome rows exactly as stored, for copying a gateway's chains elsewhere
 * (the shared store keeps them per gateway): the rows after a position, where a pruned chain now
 * starts, the hash over a row's text, and the receipt a row (and its outcome) stands for.
 *
 * @module
 */

import { hasOutcomes, openReadOnly } from "./_schema.ts";
import { chainHash, type ChainRow, receiptFields, toReceipt } from "./_chain_text.ts";
import { canonicalOutcome, outcomeHash, type StoredOutcome } from "./_outcome.ts";
import { type Checkpoint, checkpointOf } from "./prune.ts";
import type { Receipt } from "../core/mod.ts";

export type { ChainRow, ReceiptFields } from "./_chain_text.ts";
export type { StoredOutcome } from "./_outcome.ts";
export { canonicalOutcome, chainHash, outcomeHash, receiptFields };

/** A committed receipt row with the fields a copy indexes, read from its text by SQLite. */
export interface StoredReceipt extends ChainRow {
  time: string;
  agent: string | null;
  verdict: string;
  prev_hash: string;
}

/**
 * Up to `limit` committed rows with `seq` above `afterSeq`, in chain order. Opens its own
 * read-only connection, so it works while a gateway writes.
 *
 * @example
 * ```ts
 * const rows = storedRowsAfter("./state/receipts.db", 0, 500);
 * ```
 */
export function storedRowsAfter(path: string, afterSeq: number, limit: number): StoredReceipt[] {
  const db = openReadOnly(path);
  try {
    return db.prepare(
      `SELECT seq, id, canonical, hash, canonical ->> '$.time' AS time,
        canonical ->> '$.agent' AS agent, canonical ->> '$.verdict' AS verdict,
        canonical ->> '$.prev_hash' AS prev_hash
      FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?`,
    ).all(afterSeq, limit) as unknown as StoredReceipt[];
  } finally {
    db.close();
  }
}

/**
 * Up to `limit` committed outcomes with `seq` above `afterSeq`, in chain order; none from a
 * database older than outcomes.
 *
 * @example
 * ```ts
 * const outcomes = storedOutcomesAfter("./state/receipts.db", 0, 500);
 * ```
 */
export function storedOutcomesAfter(
  path: string,
  afterSeq: number,
  limit: number,
): StoredOutcome[] {
  const db = openReadOnly(path);
  try {
    if (!hasOutcomes(db)) return [];
    return db.prepare("SELECT * FROM outcomes WHERE seq > ? ORDER BY seq LIMIT ?")
      .all(afterSeq, limit) as unknown as StoredOutcome[];
  } finally {
    db.close();
  }
}

/**
 * Where the receipt (or outcome) chain at `path` starts after retention pruned it (the last
 * removed row's seq and hash), or `null` when nothing was pruned: a copy cuts at the same place.
 *
 * @example
 * ```ts
 * const cut = storedCheckpoint("./state/receipts.db"); // { seq: 120, hash: "…" } or null
 * ```
 */
export function storedCheckpoint(
  path: string,
  table: "receipts" | "outcomes" = "receipts",
): Checkpoint | null {
  const db = openReadOnly(path);
  try {
    return checkpointOf(db, table);
  } finally {
    db.close();
  }
}

/** The outcome a canonical text (see {@linkcode canonicalOutcome}) and its hash describe. */
export function outcomeOfCanonical(canonical: string, hash: string): StoredOutcome {
  return { ...JSON.parse(canonical), hash };
}

/**
 * The receipt a stored row stands for, with `outcome` when one is known; without one, the receipt
 * has no `outcome` at all (a copy cannot tell "not copied yet" from "never written").
 */
export function receiptOfRow(row: ChainRow, outcome: StoredOutcome | null = null): Receipt {
  if (outcome !== null) {
    return toReceipt({
      ...row,
      o_time: outcome.time,
      o_upstream_status: outcome.upstream_status,
      o_bytes_in: outcome.bytes_in,
      o_bytes_out: outcome.bytes_out,
      o_latency_ms: outcome.latency_ms,
      o_error: outcome.error,
      o_not_run: outcome.not_run,
    });
  }
  const { outcome: _outcome, ...receipt } = toReceipt(row);
  return receipt;
}
