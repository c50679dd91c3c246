/**
 * Entry point of the Web Workers that walk one part of each chain (receipts, outcomes) for
 * `verifyChainParallel()`. `verify_parallel.ts` imports this module, with no effect outside such
 * a worker, so that `deno compile` embeds it (Deno does not follow `new Worker(new URL(…))`).
 *
 * @module
 */

import { openReadOnly } from "./_schema.ts";
import type { SeqRange } from "./_seq_pages.ts";
import { type RangeWalk, walkOutcomeRange, walkReceiptRange } from "./_chain_range.ts";

/** The worker's name: only a worker so named walks. */
export const RANGE_WORKER_NAME = "clawpatrol-chain-range";

/** What the worker is asked: the store's path and its part of each chain. */
export interface RangeRequest {
  path: string;
  receipts: SeqRange;
  /** Absent when the outcomes are not split (too few, or none). */
  outcomes?: SeqRange;
}

/** What the worker answers: a walk per part it was given. */
export interface RangeAnswer {
  receipts: RangeWalk;
  outcomes?: RangeWalk;
}

// The project type-checks against Deno's window globals; these are the worker's.
interface WorkerScope {
  name: string;
  onmessage: ((event: MessageEvent<RangeRequest>) => void) | null;
  postMessage(message: RangeAnswer | { error: string } | { progress: number }): void;
}

const scope = globalThis as unknown as Partial<WorkerScope>;
if ("WorkerGlobalScope" in globalThis && scope.name === RANGE_WORKER_NAME) {
  scope.onmessage = (event) => {
    try {
      const db = openReadOnly(event.data.path);
      try {
        db.exec("BEGIN");
        const { receipts, outcomes } = event.data;
        const tick = (rows: number) => scope.postMessage!({ progress: rows });
        scope.postMessage!({
          receipts: walkReceiptRange(db, receipts, tick),
          outcomes: outcomes && walkOutcomeRange(db, outcomes, tick),
        });
      } finally {
        if (db.isTransaction) db.exec("ROLLBACK");
        db.close();
      }
    } catch (err) {
      scope.postMessage!({ error: (err as Error).message });
    }
  };
}
