/**
 * {@linkcode verifyChain} in a Web Worker, for a process that keeps serving while it runs (the
 * gateway's dashboard).
 *
 * @module
 */

import type { ChainVerification } from "./verify.ts";
import { VERIFY_WORKER_NAME } from "./_verify_worker.ts";

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
  const worker = new Worker(url, { type: "module", name: VERIFY_WORKER_NAME });
  return new Promise<ChainVerification>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<ChainVerification | { error: string }>) => {
      const data = event.data;
      if ("error" in data) reject(new Error(data.error));
      else resolve(data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(event.message));
    };
    worker.postMessage({ path });
  }).finally(() => worker.terminate());
}
