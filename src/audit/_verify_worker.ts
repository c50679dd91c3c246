/**
 * Entry point of the Web Worker that verifies the receipt chain for the dashboard's Health page:
 * a walk over every receipt takes seconds on a large store, and must not stall the gateway's
 * event loop meanwhile. `verify_async.ts` imports this module, with no effect outside the worker,
 * so that `deno compile` embeds it (Deno does not follow `new Worker(new URL(…))`).
 *
 * @module
 */

import { type ChainVerification, verifyChain } from "./verify.ts";

/** The worker's name: only a worker so named verifies. */
export const VERIFY_WORKER_NAME = "clawpatrol-chain-verifier";

// The project type-checks against Deno's window globals; these are the worker's.
interface WorkerScope {
  name: string;
  onmessage: ((event: MessageEvent<{ path: string }>) => void) | null;
  postMessage(message: ChainVerification | { error: string }): void;
}

const scope = globalThis as unknown as Partial<WorkerScope>;
if ("WorkerGlobalScope" in globalThis && scope.name === VERIFY_WORKER_NAME) {
  scope.onmessage = (event) => {
    try {
      scope.postMessage!(verifyChain(event.data.path));
    } catch (err) {
      scope.postMessage!({ error: (err as Error).message });
    }
  };
}
