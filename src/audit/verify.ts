/**
 * `clawpatrol log verify`: recomputes the receipt hash chain.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { hasOutcomes, openReadOnly } from "./_schema.ts";
import { chainHash, type ChainRow, claimedPrevHash, GENESIS_HASH } from "./_chain_text.ts";
import { outcomeHash, type StoredOutcome } from "./_outcome.ts";
import { checkpointOf } from "./prune.ts";
import { rowsInSeqOrder } from "./_seq_pages.ts";
import { outcomeShape, receiptShape } from "./_chain_shapes.ts";

/**
 * The outcome of {@linkcode verifyChain}. `rows` counts the receipts that verified before the
 * first broken one (all of them when `ok`).
 */
export type ChainVerification =
  | { ok: true; rows: number }
  | {
    ok: false;
    rows: number;
    brokenSeq: number;
    problem: string;
    /** Set when the break is in the outcomes' chain; `brokenSeq` is then an outcome's seq. */
    table?: "outcomes";
  };

/**
 * Walks every receipt in `seq` order, one row at a time, and reports the first that breaks the
 * chain: a gap in `seq` or a `prev_hash` that is not the previous row's hash (a deleted or
 * rewritten predecessor), or a `hash` that does not match the row's contents (an edit).
 *
 * The chain proves the rows agree with each other. It cannot notice receipts cut from the end,
 * nor a rewrite of every row after an edit; comparing the last hash with one exported earlier
 * catches both.
 *
 * @example
 * ```ts
 * const result = verifyChain("./state/receipts.db");
 * if (!result.ok) console.error(`receipt ${result.brokenSeq}: ${result.problem}`);
 * ```
 */
export function verifyChain(dbPath: string): ChainVerification {
  const db = openReadOnly(dbPath);
  try {
    // One read transaction is one WAL snapshot: rows appended (or pruned) while the walk reads
    // page after page are not half-seen, and the checkpoints agree with the rows.
    db.exec("BEGIN");
    return verifySnapshot(db);
  } finally {
    if (db.isTransaction) db.exec("ROLLBACK");
    db.close();
  }
}

/** {@linkcode verifyChain} over `db`, open inside a read transaction. */
export function verifySnapshot(db: DatabaseSync): ChainVerification {
  let verified = 0;
  // A pruned chain starts at its checkpoint: the last removed receipt's seq and hash.
  const cut = checkpointOf(db, "receipts");
  let prevSeq = cut?.seq ?? 0;
  let prevHash = cut?.hash ?? GENESIS_HASH;
  for (const row of rowsInSeqOrder(db, "receipts", receiptShape)) {
    const problem = receiptProblem(row, prevSeq, prevHash);
    if (problem !== undefined) return { ok: false, rows: verified, brokenSeq: row.seq, problem };
    verified++;
    prevSeq = row.seq;
    prevHash = row.hash;
  }
  return verifyOutcomes(db) ?? { ok: true, rows: verified };
}

/**
 * The outcomes' own chain, checked the same way, plus: each names a receipt that was written
 * ahead, and no receipt has two outcomes (the UNIQUE column already refuses that on insert).
 */
export function verifyOutcomes(db: DatabaseSync): ChainVerification | undefined {
  if (!hasOutcomes(db)) return undefined;
  const problemOf = outcomeChecker(db);
  const cut = checkpointOf(db, "outcomes");
  let prevSeq = cut?.seq ?? 0;
  let prevHash = cut?.hash ?? GENESIS_HASH;
  for (const o of rowsInSeqOrder(db, "outcomes", outcomeShape)) {
    const problem = problemOf(o, prevSeq, prevHash);
    if (problem !== undefined) {
      return { ok: false, rows: prevSeq, brokenSeq: o.seq, problem, table: "outcomes" };
    }
    prevSeq = o.seq;
    prevHash = o.hash;
  }
  return undefined;
}

/** Why an outcome does not follow the outcome `prevSeq` with hash `prevHash`, if it does not. */
export type OutcomeProblem = (
  o: StoredOutcome,
  prevSeq: number,
  prevHash: string,
) => string | undefined;

/**
 * The check of one outcome in `db`: it follows the one before, its hash matches, and it names a
 * receipt of `db` written ahead (or one pruned since, when receipts were pruned).
 */
export function outcomeChecker(db: DatabaseSync): OutcomeProblem {
  const ahead = db.prepare("SELECT canonical ->> '$.ahead' AS ahead FROM receipts WHERE id = ?");
  const receiptsPruned = checkpointOf(db, "receipts") !== null;
  return (o, prevSeq, prevHash) => {
    if (o.seq !== prevSeq + 1) return `outcome seq jumps from ${prevSeq} to ${o.seq}: deleted`;
    if (o.prev_hash !== prevHash) return "prev_hash does not match the previous outcome";
    if (outcomeHash(o) !== o.hash) return "hash does not match the outcome: it was edited";
    const receipt = ahead.get(o.receipt) as { ahead: number | null } | undefined;
    // A receipt pruned while its exchange was still open leaves its outcome behind.
    if (receipt ? receipt.ahead !== 1 : !receiptsPruned) {
      return `outcome of '${o.receipt}', which is not a receipt written ahead`;
    }
    return undefined;
  };
}

/**
 * Why `row` does not follow the receipt `prevSeq` with hash `prevHash`, if it does not. Its hash
 * covers `prevHash` and its text, so one hash checks both; only a row that fails is read further,
 * to say whether its predecessor or the row itself changed.
 */
export function receiptProblem(
  row: ChainRow,
  prevSeq: number,
  prevHash: string,
): string | undefined {
  if (row.seq !== prevSeq + 1) {
    return prevSeq === 0
      ? `chain starts at seq ${row.seq}, not 1: earlier receipts were deleted`
      : `seq jumps from ${prevSeq} to ${row.seq}: receipts were deleted`;
  }
  if (typeof row.canonical === "string" && chainHash(prevHash, row.canonical) === row.hash) {
    return undefined;
  }
  const claimed = typeof row.canonical === "string" ? claimedPrevHash(row.canonical) : undefined;
  if (claimed !== undefined && claimed !== prevHash) {
    return prevSeq === 0
      ? "prev_hash of the first receipt is not the genesis hash"
      : `prev_hash does not match the hash of receipt ${prevSeq}: it was deleted or rewritten`;
  }
  return "hash does not match the row: it was edited";
}
