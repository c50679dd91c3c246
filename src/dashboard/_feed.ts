/**
 * New receipts for the live feed. The receipt store says "committed" (a cheap call per batch,
 * on the gateway's thread); the feed then reads what is new from the database, at most once per
 * {@linkcode PULL_INTERVAL_MS} and only while someone watches, so deciding never waits on it.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import type { ReceiptFilter } from "../audit/mod.ts";

/** Reads committed receipts (the gateway's `queryReceipts` over its store). */
export type ReceiptQuery = (filter: ReceiptFilter) => Receipt[];

/** Most receipts read per pull; a larger burst is read in several pulls. */
const PULL_LIMIT = 500;
/** Fast enough for "within a second", slow enough that a busy gateway costs one read per tick. */
export const PULL_INTERVAL_MS = 100;

/** Receipts committed since the last pull, in `seq` order, to whoever subscribed. */
export class ReceiptFeed {
  readonly #query: ReceiptQuery;
  readonly #subscribers = new Set<(receipts: Receipt[]) => void>();
  #last: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(query: ReceiptQuery) {
    this.#query = query;
  }

  /** The store committed receipts. Cheap: schedules a pull when someone watches. */
  notify(): void {
    if (this.#subscribers.size === 0 || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => this.#pull(), PULL_INTERVAL_MS);
  }

  /** Follows new receipts; returns the unsubscribe. */
  subscribe(listener: (receipts: Receipt[]) => void): () => void {
    if (this.#subscribers.size === 0) {
      // Nobody watched: start after the newest committed receipt.
      this.#last = this.#query({ limit: 1 }).at(-1)?.seq ?? 0;
    }
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
      if (this.#subscribers.size === 0) this.#cancel();
    };
  }

  /** Stops pulling and drops every subscriber. */
  close(): void {
    this.#subscribers.clear();
    this.#cancel();
  }

  #cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #pull(): void {
    this.#timer = undefined;
    if (this.#subscribers.size === 0) return;
    let receipts: Receipt[];
    try {
      receipts = this.#query({ afterSeq: this.#last ?? 0, limit: PULL_LIMIT });
    } catch {
      // The database is busy or gone: the next commit notifies again.
      return;
    }
    if (receipts.length > 0) {
      this.#last = receipts.at(-1)!.seq;
      for (const listener of this.#subscribers) {
        try {
          listener(receipts);
        } catch {
          // One viewer's broken stream must not starve the others.
        }
      }
    }
    // A burst larger than one pull: read the rest on the next tick.
    if (receipts.length === PULL_LIMIT) this.notify();
  }
}
