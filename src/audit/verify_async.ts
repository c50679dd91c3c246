/**
 * {@linkcode verifyChain} in a Web Worker, for a process that keeps serving while it runs (the
 * gateway's dashboard). One worker, not `verifyChainParallel()`'s one per core: the gateway's own
 * threads need those cores more than a dashboard check needs its answer sooner.
 *
 * @module
 */

import type { ChainVerification } from "./verify.ts";
import { VERIFY_WORKER_NAME } from "./_verify_worker.ts";
import { callWorker } from "./_worker_call.ts";

/**
 * Verifies the chain of the store at `path` off the calling thread; rejects when the worker
 * cannot run or the store cannot be read.
 *
 * @example
 * ```ts
 * const result = await verifyChainInWorker("./state/receipts.db");
 * if (!result.ok) console.error(`receipt ${result.brokenSeq}: ${result.problem}`);
 * ```
 */
export function verifyChainInWorker(path: string): Promise<ChainVerification> {
  const url = new URL("./_verify_worker.ts", import.meta.url).href;
  return callWorker<ChainVerification>(url, VERIFY_WORKER_NAME, { path });
}
