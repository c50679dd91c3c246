/**
 * Entry point of the receipt writer's Web Worker: wires {@linkcode ReceiptWriter} to the worker's
 * message port. `store.ts` also imports this module, with no effect outside a worker, so that
 * `deno compile` embeds it: Deno does not follow `new Worker(new URL(…))` into the binary.
 *
 * @module
 */

import { type FromWriter, ReceiptWriter, type ToWriter, WRITER_WORKER_NAME } from "./_writer.ts";

// The project type-checks against Deno's window globals; these are the worker's.
interface WorkerScope {
  name: string;
  onmessage: ((event: MessageEvent<ToWriter>) => void) | null;
  postMessage(message: FromWriter): void;
}

const scope = globalThis as unknown as Partial<WorkerScope>;
// By name, not just "in a worker": another worker that imports the audit module stays untouched.
if ("WorkerGlobalScope" in globalThis && scope.name === WRITER_WORKER_NAME) {
  const writer = new ReceiptWriter((message) => scope.postMessage!(message));
  scope.onmessage = (event) => writer.handle(event.data);
}
