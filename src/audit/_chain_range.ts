/**
 * One part of a chained table, walked on its own: what each thread does when `log verify` splits
 * the chains by seq. A part cannot check that its first row follows the row before it (that row
 * is another part's), so it reports where it starts and ends and the caller joins the parts.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { rowsInSeqOrder, type SeqRange } from "./_seq_pages.ts";
import { outcomeShape, receiptShape } from "./_chain_shapes.ts";
import { outcomeChecker, receiptProblem } from "./verify.ts";
import { type ChainRow, claimedPrevHash } from "./_chain_text.ts";
import type { StoredOutcome } from "./_outcome.ts";

/** What one part of a chain holds, and whether it is intact inside. */
export interface RangeWalk {
  rows: number;
  /** The part's first row: its seq and the hash it claims came before it. */
  first: { seq: number; prevHash: string } | null;
  /** The part's last row: what the next part's first row must follow. */
  last: { seq: number; hash: string } | null;
  /** A row was edited, or does not follow the row before it inside the part. */
  broken: boolean;
}

/** Rows between two calls of a walk's `tick`. */
export const TICK_ROWS = 10_000;

/**
 * Walks the receipts in `range` of `db` (open inside a read transaction); `tick` is told of
 * every {@linkcode TICK_ROWS} rows walked, and of the rest at the end.
 */
export function walkReceiptRange(
  db: DatabaseSync,
  range: SeqRange,
  tick?: (rows: number) => void,
): RangeWalk {
  const rows = rowsInSeqOrder(db, "receipts", receiptShape, range);
  // Only a part's first row needs the hash it names: its text is read for it.
  return walkRows(rows, receiptProblem, (row) => claimedPrevHash(row.canonical) ?? "", tick);
}

/** Walks the outcomes in `range` of `db` (open inside a read transaction), as the receipts. */
export function walkOutcomeRange(
  db: DatabaseSync,
  range: SeqRange,
  tick?: (rows: number) => void,
): RangeWalk {
  const rows = rowsInSeqOrder(db, "outcomes", outcomeShape, range);
  return walkRows(rows, outcomeChecker(db), (o: StoredOutcome) => o.prev_hash, tick);
}

type Chained = ChainRow | StoredOutcome;

/**
 * Every row checked against the one before it; the first against itself (`seq - 1` and the hash
 * it names as its predecessor's, `claimed`), which leaves the checks of its contents, the joins
 * being the caller's. A seq that is not a number fails even that.
 */
function walkRows<T extends Chained>(
  rows: Iterable<T>,
  problem: (row: T, prevSeq: number, prevHash: string) => string | undefined,
  claimed: (row: T) => string,
  tick?: (rows: number) => void,
): RangeWalk {
  let count = 0;
  let first: RangeWalk["first"] = null;
  let prevSeq = 0;
  let prevHash = "";
  for (const row of rows) {
    const start = count === 0 ? claimed(row) : "";
    const broken = count === 0
      ? problem(row, row.seq - 1, start) !== undefined
      : problem(row, prevSeq, prevHash) !== undefined;
    if (broken) return { rows: count, first, last: null, broken: true };
    if (count === 0) first = { seq: row.seq, prevHash: start };
    count++;
    if (count % TICK_ROWS === 0) tick?.(TICK_ROWS);
    prevSeq = row.seq;
    prevHash = row.hash;
  }
  if (count % TICK_ROWS !== 0) tick?.(count % TICK_ROWS);
  return {
    rows: count,
    first,
    last: count > 0 ? { seq: prevSeq, hash: prevHash } : null,
    broken: false,
  };
}
