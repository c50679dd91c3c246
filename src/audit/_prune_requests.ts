/**
 * Prune requests the store sends its writer, and their answers: each request gets an id, and
 * the writer's `pruned` / `pruneFailed` message settles the promise with that id.
 *
 * @module
 */

import type { Pruned } from "./prune.ts";
import type { FromWriter } from "./_writer.ts";

/** Requests waiting for the writer's answer. */
export class PruneRequests {
  readonly #waiting = new Map<
    number,
    { resolve: (p: Pruned) => void; reject: (e: Error) => void }
  >();
  #next = 0;

  /** A new request's id and the promise its answer settles. */
  open(): { id: number; answer: Promise<Pruned> } {
    const id = this.#next++;
    const answer = new Promise<Pruned>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
    });
    return { id, answer };
  }

  /** Settles the request a writer message answers. */
  settle(message: Extract<FromWriter, { type: "pruned" | "pruneFailed" }>): void {
    const waiting = this.#waiting.get(message.id);
    this.#waiting.delete(message.id);
    if (message.type === "pruned") {
      waiting?.resolve({ receipts: message.receipts, outcomes: message.outcomes });
    } else waiting?.reject(new Error(message.error));
  }

  /** Fails every waiting request (the writer is gone). */
  failAll(error: Error): void {
    for (const { reject } of this.#waiting.values()) reject(error);
    this.#waiting.clear();
  }
}
