/**
 * `log verify` on every core: the receipt chain split by seq into parts, one per thread, each
 * part walked on its own read snapshot, then joined end to start. Hashing a receipt does not
 * depend on the one before it (each row stores its predecessor's hash), so only the joins are
 * sequential.
 *
 * The parts' snapshots are taken after this thread's, so a part may see a prune or a tamper this
 * thread does not. Whenever anything does not add up (a part broken inside, parts that do not
 * join, fewer rows than this thread counts, a worker that fails) the answer is the one-thread walk
 * over this thread's own snapshot: the same verdict, row count and message as `verifyChain()`.
 *
 * @module
 */

import { openReadOnly } from "./_schema.ts";
import { GENESIS_HASH } from "./_row.ts";
import { checkpointOf } from "./prune.ts";
import type { SeqRange } from "./_seq_pages.ts";
import type { RangeWalk } from "./_chain_range.ts";
import { walkReceiptRange } from "./_chain_range.ts";
import { type ChainVerification, verifyOutcomes, verifySnapshot } from "./verify.ts";
import { RANGE_WORKER_NAME, type RangeRequest } from "./_verify_range_worker.ts";
import { callWorker } from "./_worker_call.ts";

/** Options of {@linkcode verifyChainParallel}. */
export interface ParallelVerifyOptions {
  /** Threads walking the chain, this one included; default: the machine's cores, at most 8. */
  threads?: number;
  /** Fewer receipts per thread than this are walked on one thread: a worker costs ~30 ms. */
  minRowsPerThread?: number;
  /** Told how the answer was reached: for `log verify`'s bench and tests. */
  report?: (how: ParallelVerifyReport) => void;
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
 * Verifies the chain of the store at `path` as `verifyChain()` does, the receipts split across
 * threads; the outcomes' chain is walked on this thread.
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
    const cut = checkpointOf(db, "receipts");
    const start = { seq: cut?.seq ?? 0, hash: cut?.hash ?? GENESIS_HASH };
    const { count, last } = db.prepare("SELECT count(*) AS count, max(seq) AS last FROM receipts")
      .get() as { count: number; last: unknown };
    const ranges = split(start.seq, last, count, options);
    const serial = () => {
      options.report?.({ parts: Math.max(ranges.length, 1), serial: true });
      return verifySnapshot(db);
    };
    if (ranges.length < 2) return serial();
    const others = ranges.slice(1).map((range) =>
      callWorker<RangeWalk>(workerUrl, RANGE_WORKER_NAME, { path, range } satisfies RangeRequest)
    );
    // Settled, not raced: every worker is awaited (and so ended) before this returns.
    const settled = Promise.allSettled(others);
    const walks = [walkReceiptRange(db, ranges[0])];
    for (const result of await settled) {
      if (result.status === "rejected") return serial();
      walks.push(result.value);
    }
    if (!joined(walks, start, count, last)) return serial();
    options.report?.({ parts: ranges.length, serial: false });
    return verifyOutcomes(db) ?? { ok: true, rows: count };
  } finally {
    if (db.isTransaction) db.exec("ROLLBACK");
    db.close();
  }
}

/** The parts, in seq order; one or none when the chain is too short or its seqs are odd. */
function split(
  after: number,
  last: unknown,
  count: number,
  options: ParallelVerifyOptions,
): SeqRange[] {
  const threads = options.threads ?? Math.min(navigator.hardwareConcurrency ?? 1, MAX_THREADS);
  const parts = Math.min(
    Math.floor(threads),
    Math.floor(count / (options.minRowsPerThread ?? MIN_ROWS_PER_THREAD)),
  );
  // A seq that is not an integer (a tampered table) cannot be split on; one walk reports it.
  if (parts < 2 || typeof last !== "number" || !Number.isSafeInteger(last)) return [];
  if (!Number.isSafeInteger(after) || last <= after) return [];
  const bound = (i: number) => after + Math.floor((last - after) * i / parts);
  return Array.from({ length: parts }, (_, i) => ({ after: bound(i), upTo: bound(i + 1) }));
}

/** Whether the parts are intact, follow each other from `start` to `last`, and hold every row. */
function joined(
  walks: RangeWalk[],
  start: { seq: number; hash: string },
  count: number,
  last: unknown,
): boolean {
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
