/**
 * Entry point of the Web Workers that walk one part of the receipt chain each for
 * `verifyChainParallel()`. `verify_parallel.ts` imports this module, with no effect outside such
 * a worker, so that `deno compile` embeds it (Deno does not follow `new Worker(new URL(…))`).
 *
 * @module
 */

import { openReadOnly } from "./_schema.ts";
import type { SeqRange } from "./_seq_pages.ts";
import { type RangeWalk, walkReceiptRange } from "./_chain_range.ts";

/** The worker's name: only a worker so named walks. */
export const RANGE_WORKER_NAME = "clawpatrol-chain-range";

/** What the worker is asked: the store's path and the part of its chain to walk. */
export interface RangeRequest {
  path: string;
  range: SeqRange;
}

// The project type-checks against Deno's window globals; these are the worker's.
interface WorkerScope {
  name: string;
  onmessage: ((event: MessageEvent<RangeRequest>) => void) | null;
  postMessage(message: RangeWalk | { error: string }): void;
}

const scope = globalThis as unknown as Partial<WorkerScope>;
if ("WorkerGlobalScope" in globalThis && scope.name === RANGE_WORKER_NAME) {
  scope.onmessage = (event) => {
    try {
      const db = openReadOnly(event.data.path);
      try {
        db.exec("BEGIN");
        scope.postMessage!(walkReceiptRange(db, event.data.range));
      } finally {
        if (db.isTransaction) db.exec("ROLLBACK");
        db.close();
      }
    } catch (err) {
      scope.postMessage!({ error: (err as Error).message });
    }
  };
}
