/**
 * Which receipts are on disk: counts rows handed to the writer against rows it committed, wakes
 * whoever waits for a row to be durable, and knows how long the oldest unwritten row has waited
 * (a writer that hangs, on a dead disk say, must fail the store closed, not grow its queue).
 *
 * @module
 */

import { AuditUnavailableError } from "../core/mod.ts";

const MARK_EVERY_MS = 5;

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Rows are numbered in the order they are recorded; the writer commits them in that order. */
export class CommitTracker {
  #recorded = 0;
  #committed = 0;
  #waiters: Waiter[] = [];
  /** `[row number, when recorded]` of the first row of each burst not yet committed. */
  #pending: [number, number][] = [];
  /** The tracker's clock, ms: callers read it once for a row's stall check and its queueing. */
  readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  /** Counts one more row, queued at `now` (this tracker's clock); returns its number. */
  recorded(now: number = this.now()): number {
    const n = ++this.#recorded;
    // A mark every few ms, not per row, keeps this cheap; a row's age is then known to within
    // MARK_EVERY_MS (it is never older than the mark before it).
    const last = this.#pending.at(-1);
    if (last === undefined || now - last[1] >= MARK_EVERY_MS) this.#pending.push([n, now]);
    return n;
  }

  /** Rows recorded but not committed. */
  get queued(): number {
    return this.#recorded - this.#committed;
  }

  /** Number of the last row recorded. */
  get last(): number {
    return this.#recorded;
  }

  /** The writer committed `rows` more rows: wake every waiter whose row is now on disk. */
  committed(rows: number): void {
    this.#committed += rows;
    // A mark's rows run up to the next mark's first row. Drop marks whose rows are all
    // committed; a mark partly committed keeps its time for the rest (never younger than true).
    const pending = this.#pending;
    while (pending.length > 1 && pending[1][0] <= this.#committed + 1) pending.shift();
    if (this.queued === 0) pending.length = 0;
    else if (pending.length > 0 && pending[0][0] <= this.#committed) {
      pending[0] = [this.#committed + 1, pending[0][1]];
    }
    while (this.#waiters.length > 0 && this.#waiters[0].target <= this.#committed) {
      this.#waiters.shift()!.resolve();
    }
  }

  /** Resolves once row `target` (and every row before it) is committed. */
  waitFor(target: number): Promise<void> {
    if (this.#committed >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      // Targets only grow, so the list stays sorted and `committed()` wakes from the front.
      this.#waiters.push({ target, resolve, reject });
    });
  }

  /** Fails every waiter: a commit failed or the writer is gone. */
  rejectAll(error: AuditUnavailableError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(error);
  }

  /** How long the oldest uncommitted row has waited at `now`, in ms (0 when none waits). */
  oldestWaitMs(now: number = this.now()): number {
    const first = this.#pending[0];
    return first === undefined ? 0 : now - first[1];
  }
}
