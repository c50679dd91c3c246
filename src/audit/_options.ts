/**
 * Options of the receipt store, and their checks.
 *
 * @module
 */

import type { MigrationStep } from "./_schema.ts";

/** Options for `ReceiptStore.open`. */
export interface ReceiptStoreOptions {
  /**
   * The protocol families receipts may name (the registry's, passed in as data), besides
   * `gateway` for the gateway's own refusals; a receipt naming another is refused. Absent: any
   * lowercase name.
   */
  protocols?: readonly string[];
  /** Most receipts held in memory awaiting commit; past it `record()` throws. @default {10_000} */
  maxQueue?: number;
  /** Most receipts per transaction; bounds how long one commit holds the write lock. @default {500} */
  maxBatch?: number;
  /**
   * SQLite `synchronous` level. `"full"` fsyncs the WAL at every commit and survives power loss;
   * `"normal"` survives a process crash only. @default {"full"}
   */
  synchronous?: "full" | "normal";
  /** How long a commit waits on another writer's lock before giving up and retrying later. @default {10} */
  busyTimeoutMs?: number;
  /**
   * Group commit: while receipts keep coming, the writer commits at most once per this many
   * ms, so one transaction and one fsync cover all of them (a commit per timer tick costs the
   * writer several times more CPU per receipt under load). A writer that was idle commits at
   * once, and `flushed()` / `close()` commit at once. This bounds how long a receipt can sit in
   * memory before it is on disk. @default {10}
   */
  commitIntervalMs?: number;
  /**
   * Likewise for handing rows to the writer: at most one message per this many ms under load
   * (each wakes the writer thread), at once after a quiet spell. The writer then commits at most
   * once per `commitIntervalMs` minus this, so a row still reaches disk within
   * `commitIntervalMs`. @default {a fifth of commitIntervalMs, rounded down}
   */
  sendIntervalMs?: number;
  /**
   * Write from a Web Worker, so the inserts, the hash chain and each commit's fsync never block
   * this thread's event loop. `false` writes on this thread, from a timer, in the same batches.
   * @default {true}
   */
  worker?: boolean;
  /**
   * Told about every failed commit (the receipts stay queued and are retried with backoff), and
   * about a writer that stopped (the store then refuses every receipt).
   */
  onError?: (error: Error) => void;
  /** Told about every committed batch (for metrics); `durationMs` is the writer's time on it. */
  onFlush?: (info: { rows: number; durationMs: number }) => void;
  /**
   * Told when the store starts refusing receipts (`problem`: why) and when it takes them again
   * (`null`): a failed commit, a writer that stopped, or rows unwritten for longer than
   * `stallMs`.
   */
  onHealth?: (problem: string | null) => void;
  /**
   * Told how a file written by an older gateway is brought to this schema, during `open()`
   * (which blocks until it is done): at the start, every 100,000 receipts and at the end.
   */
  onMigration?: (step: MigrationStep) => void;
  /**
   * Longest a recorded receipt may wait for its commit before the store refuses new ones (a
   * writer hung on a dead disk). @default {max(1000, 20 × commitIntervalMs)}
   */
  stallMs?: number;
}

/** Throws RangeError unless `value` is absent or an integer of at least `min`. */
export function integerOption(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
    throw new RangeError(
      `Invalid receipt store option ${name} '${value}': expected an integer >= ${min}`,
    );
  }
}

/**
 * How often queued rows go to the writer: `sendIntervalMs`, else a fifth of the commit interval.
 * Each message costs this thread ~50 µs (serialising and posting, waking the writer) however few
 * rows it carries, so sending more often than commits happen only spends CPU: at the gateway's
 * 50 ms commit interval, sending every 10 ms instead of every 2 ms took ~15 µs off each HTTPS
 * request (bench/stages.ts, A/B).
 */
export function sendInterval(options: ReceiptStoreOptions): number {
  return options.sendIntervalMs ?? Math.floor(commitInterval(options) / 5);
}

/** `commitIntervalMs`, or its default: the one place the store reads it from. */
export function commitInterval(options: ReceiptStoreOptions): number {
  return options.commitIntervalMs ?? 10;
}
