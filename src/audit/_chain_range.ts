/**
 * One part of the receipt chain, walked on its own: what each thread does when `log verify`
 * splits the chain by seq. A part cannot check that its first row follows the row before it (that
 * row is another part's), so it reports where it starts and ends and the caller joins the parts.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { rowHash } from "./_row.ts";
import { rowsInSeqOrder, type SeqRange } from "./_seq_pages.ts";
import { receiptShape } from "./_chain_shapes.ts";
import { receiptProblem } from "./verify.ts";

/** What one part of the chain holds, and whether it is intact inside. */
export interface RangeWalk {
  rows: number;
  /** The part's first row: its seq and the hash it claims came before it. */
  first: { seq: number; prevHash: string } | null;
  /** The part's last row: what the next part's first row must follow. */
  last: { seq: number; hash: string } | null;
  /** A row was edited, or does not follow the row before it inside the part. */
  broken: boolean;
}

/** Walks the receipts in `range` of `db` (open inside a read transaction). */
export function walkReceiptRange(db: DatabaseSync, range: SeqRange): RangeWalk {
  let rows = 0;
  let first: RangeWalk["first"] = null;
  let prevSeq = 0;
  let prevHash = "";
  for (const row of rowsInSeqOrder(db, "receipts", receiptShape, range)) {
    const broken = rows === 0
      ? rowHash(row) !== row.hash
      : receiptProblem(row, prevSeq, prevHash) !== undefined;
    if (broken) return { rows, first, last: null, broken: true };
    if (rows === 0) first = { seq: row.seq, prevHash: row.prev_hash };
    rows++;
    prevSeq = row.seq;
    prevHash = row.hash;
  }
  return { rows, first, last: rows > 0 ? { seq: prevSeq, hash: prevHash } : null, broken: false };
}
