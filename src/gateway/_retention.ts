/**
 * Retention (`gateway.receipts.keep`): once an hour (and at start) receipts older than `keep` are
 * pruned, a batch at a time with the event loop free between batches, so decisions never wait
 * on it; each batch leaves the checkpoint `log verify` starts from. A failure is logged and
 * retried at the next round: receipts are kept longer, never lost early.
 *
 * @module
 */

import type { Pruned } from "../audit/mod.ts";
import type { Config } from "../config/mod.ts";
import type { Logger } from "./log.ts";

/** How often old receipts are looked for. */
const ROUND_MS = 3_600_000;

/** Prunes the receipts at `path` per the config in force. */
export class Retention {
  readonly #pruneBatch: (cutoff: Date) => Promise<Pruned>;
  readonly #config: () => Config;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;

  /** `prune`: one batch older than the cutoff (the store's writer does it: `ReceiptStore.prune`). */
  constructor(prune: (cutoff: Date) => Promise<Pruned>, config: () => Config, log: Logger) {
    this.#pruneBatch = prune;
    this.#config = config;
    this.#log = log;
  }

  /** Starts the rounds (the first at once). */
  start(): void {
    this.#timer = setInterval(() => this.round(), ROUND_MS);
    Deno.unrefTimer(this.#timer);
    void this.round();
  }

  /** One round now (a round already running is joined); resolves when it is done. */
  round(): Promise<void> {
    this.#running ??= this.#prune().finally(() => this.#running = null);
    return this.#running;
  }

  /** Stops the rounds and waits for the one running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  async #prune(): Promise<void> {
    const keepMs = this.#config().gateway.receipts.keepMs;
    if (keepMs === null) return;
    const cutoff = new Date(Date.now() - keepMs);
    let receipts = 0;
    let outcomes = 0;
    try {
      while (!this.#stopped) {
        const pruned = await this.#pruneBatch(cutoff);
        receipts += pruned.receipts;
        outcomes += pruned.outcomes;
        if (pruned.receipts === 0 && pruned.outcomes === 0) break;
        // The event loop serves requests between batches.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (err) {
      this.#log.log("error", `receipts not pruned this round: ${(err as Error).message}`);
    }
    if (receipts + outcomes > 0) {
      this.#log.log(
        "info",
        `pruned ${receipts} receipts and ${outcomes} outcomes from before ${cutoff.toISOString()}`,
      );
    }
  }
}
