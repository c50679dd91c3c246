/**
 * `log verify` on every core: the receipts' chain and the outcomes' chain each split by seq into
 * parts, one of each per thread (this one and workers), each part walked on its thread's own read
 * snapshot, then joined end to start here. Hashing a row does not depend on the one before it (each row stores its predecessor's
 * hash), so only the joins are sequential. Outcomes too few to split are walked on this thread.
 *
 * The workers' snapshots are taken after this thread's, so a part may see a prune or a tamper this
 * thread does not. Whenever anything does not add up (a part broken inside, parts that do not
 * join, fewer rows than this thread counts, a worker that fails) the answer is the one-thread walk
 * over this thread's own snapshot: the same verdict, row count and message as `verifyChain()`.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { hasOutcomes, openReadOnly } from "./_schema.ts";
import { GENESIS_HASH } from "./_chain_text.ts";
import { checkpointOf } from "./prune.ts";
import type { SeqRange } from "./_seq_pages.ts";
import { type RangeWalk, walkOutcomeRange, walkReceiptRange } from "./_chain_range.ts";
import { type ChainVerification, verifyOutcomes, verifySnapshot } from "./verify.ts";
import { RANGE_WORKER_NAME, type RangeAnswer, type RangeRequest } from "./_verify_range_worker.ts";
import { callWorker } from "./_worker_call.ts";

/** Options of {@linkcode verifyChainParallel}. */
export interface ParallelVerifyOptions {
  /** Threads walking the chain, this one included; default: the machine's cores, at most 8. */
  threads?: number;
  /** Fewer receipts per thread than this are walked on one thread: a worker costs ~30 ms. */
  minRowsPerThread?: number;
  /** Told how the answer was reached: for `log verify`'s bench and tests. */
  report?: (how: ParallelVerifyReport) => void;
  /** Told the rows walked so far, of all, as the parts go (not on the one-thread walk). */
  progress?: (done: number, total: number) => void;
}

/**
 * How {@linkcode verifyChainParallel} answered: the parts the receipts were split into (1: not
 * split), and whether the one-thread walk gave the answer (not split, or the parts did not add up).
 */
export interface ParallelVerifyReport {
  parts: number;
  serial: boolean;
}

const MAX_THREADS = 8;
const MIN_ROWS_PER_THREAD = 20_000;

/**
 * Verifies the chains of the store at `path` as `verifyChain()` does, split across threads.
 *
 * @example
 * ```ts
 * const result = await verifyChainParallel("./state/receipts.db");
 * if (!result.ok) console.error(`receipt ${result.brokenSeq}: ${result.problem}`);
 * ```
 */
export function verifyChainParallel(
  path: string,
  options: ParallelVerifyOptions = {},
): Promise<ChainVerification> {
  return verifyWith(new URL("./_verify_range_worker.ts", import.meta.url).href, path, options);
}

/** {@linkcode verifyChainParallel} with the parts' worker module at `workerUrl` (tests). */
export async function verifyWith(
  workerUrl: string,
  path: string,
  options: ParallelVerifyOptions,
): Promise<ChainVerification> {
  const db = openReadOnly(path);
  try {
    db.exec("BEGIN");
    const threads = options.threads ?? Math.min(navigator.hardwareConcurrency ?? 1, MAX_THREADS);
    const minRows = options.minRowsPerThread ?? MIN_ROWS_PER_THREAD;
    const receipts = plan(db, "receipts", threads, minRows);
    const parts = receipts.ranges.length;
    const serial = () => {
      options.report?.({ parts: Math.max(parts, 1), serial: true });
      return verifySnapshot(db);
    };
    if (parts < 2) return serial();
    // The outcomes are split into as many parts, or walked here after the receipts.
    const outcomes = hasOutcomes(db) ? plan(db, "outcomes", parts, minRows) : null;
    const outcomeRanges = outcomes?.ranges.length === parts ? outcomes.ranges : null;
    const total = receipts.count + (outcomeRanges ? outcomes!.count : 0);
    let done = 0;
    // Workers always tell their progress (callWorker takes it apart from their answer).
    const onRows = (rows: number) => {
      done += rows;
      options.progress?.(done, total);
    };
    const others = receipts.ranges.slice(1).map((range, i) =>
      callWorker<RangeAnswer>(
        workerUrl,
        RANGE_WORKER_NAME,
        { path, receipts: range, outcomes: outcomeRanges?.[i + 1] } satisfies RangeRequest,
        onRows,
      )
    );
    // Settled, not raced: every worker is awaited (and so ended) before this returns.
    const settled = Promise.allSettled(others);
    // This thread walks the first parts meanwhile (it is warm; a worker starts cold). The
    // workers' progress reaches it only after, so it tells its own as it goes.
    const receiptWalks = [walkReceiptRange(db, receipts.ranges[0], onRows)];
    const outcomeWalks = outcomeRanges ? [walkOutcomeRange(db, outcomeRanges[0], onRows)] : [];
    for (const result of await settled) {
      if (result.status === "rejected") return serial();
      receiptWalks.push(result.value.receipts);
      if (result.value.outcomes) outcomeWalks.push(result.value.outcomes);
    }
    if (!joined(receiptWalks, receipts)) return serial();
    if (outcomes && outcomeRanges && !joined(outcomeWalks, outcomes)) return serial();
    if (outcomes && !outcomeRanges) {
      // Too few outcomes to split: walked here, on this snapshot. A break is answered by the
      // one-thread walk, as every other, so its message and count are verifyChain()'s.
      if (verifyOutcomes(db)) return serial();
    }
    options.report?.({ parts, serial: false });
    return { ok: true, rows: receipts.count };
  } finally {
    if (db.isTransaction) db.exec("ROLLBACK");
    db.close();
  }
}

/** One chained table as this thread's snapshot holds it, and the parts it is split into. */
interface TablePlan {
  /** Where the chain starts: its checkpoint when pruned, else the genesis. */
  start: { seq: number; hash: string };
  count: number;
  /** `max(seq)`: a number unless the table was tampered with. */
  last: unknown;
  ranges: SeqRange[];
}

function plan(
  db: DatabaseSync,
  table: "receipts" | "outcomes",
  threads: number,
  minRows: number,
): TablePlan {
  const cut = checkpointOf(db, table);
  const start = { seq: cut?.seq ?? 0, hash: cut?.hash ?? GENESIS_HASH };
  const { count, last } = db.prepare(`SELECT count(*) AS count, max(seq) AS last FROM ${table}`)
    .get() as { count: number; last: unknown };
  const parts = Math.min(Math.floor(threads), Math.floor(count / minRows));
  return { start, count, last, ranges: split(start.seq, last, parts) };
}

/** `parts` ranges in seq order; none when fewer than two, or the seqs are odd. */
function split(after: number, last: unknown, parts: number): SeqRange[] {
  // A seq that is not an integer (a tampered table) cannot be split on; one walk reports it.
  if (parts < 2 || typeof last !== "number" || !Number.isSafeInteger(last)) return [];
  if (!Number.isSafeInteger(after) || last <= after) return [];
  const bound = (i: number) => after + Math.floor((last - after) * i / parts);
  return Array.from({ length: parts }, (_, i) => ({ after: bound(i), upTo: bound(i + 1) }));
}

/** Whether the parts are intact, follow each other from `start` to `last`, and hold every row. */
function joined(walks: RangeWalk[], { start, count, last }: TablePlan): boolean {
  let seq = start.seq;
  let hash = start.hash;
  let rows = 0;
  for (const walk of walks) {
    if (walk.broken) return false;
    // An empty part is a gap in seq: the next part's first row then does not follow.
    if (walk.first === null || walk.last === null) continue;
    if (walk.first.seq !== seq + 1 || walk.first.prevHash !== hash) return false;
    seq = walk.last.seq;
    hash = walk.last.hash;
    rows += walk.rows;
  }
  return rows === count && seq === last;
}
