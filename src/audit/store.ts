/**
 * The receipt store: one hash-chained row per decided action in `state_dir/receipts.db`.
 *
 * @module
 */

import { AuditUnavailableError, type ReceiptInput } from "../core/mod.ts";
import { ReceiptIdGenerator } from "./_id.ts";
import { GATEWAY_PROTOCOL, type PendingRow, toPendingRow } from "./_row.ts";
import { checkedOutcomeError, type OutcomeInput, toPendingOutcome } from "./_outcome.ts";
import { CommitTracker } from "./_commits.ts";
import { type FromWriter, openDatabase, type StoreRow, type WriterConfig } from "./_writer.ts";
import { WriterChannel } from "./_channel.ts";
import { PruneRequests } from "./_prune_requests.ts";
import { PRUNE_BATCH, type Pruned } from "./prune.ts";
import {
  commitInterval,
  integerOption,
  type ReceiptStoreOptions,
  sendInterval,
} from "./_options.ts";

export type { ReceiptStoreOptions } from "./_options.ts";
// For `deno compile` only: outside the writer worker the module does nothing (see its header).
import "./_writer_worker.ts";

// Set by ReceiptStore's static block, the one place that can read its private #worker.
let workerOf: (store: ReceiptStore) => Worker | undefined;

/** An allowed action's receipt, written ahead; see {@linkcode ReceiptStore.reserve}. */
export interface ReceiptReservation {
  readonly id: string;
  /**
   * Resolves once the receipt is committed (asked for with `durable: true`; otherwise already
   * resolved). Rejects with `AuditUnavailableError` when the commit fails first.
   */
  readonly durable: Promise<void>;
  /** Records what happened. Throws TypeError when called twice or for bad input. */
  complete(outcome: OutcomeInput): void;
}

export type { OutcomeInput } from "./_outcome.ts";

/**
 * Writes receipts off the request path. `record()` validates the input, assigns an id and queues
 * the row; every few ms (`sendIntervalMs`) the queued rows go to a writer in a Web Worker, which
 * commits them in batches (group commit, at most one per `commitIntervalMs` under load, at once
 * for rows someone waits on), one transaction (one fsync) per batch, and computes the hash chain
 * inside that transaction. While commits fail, the writer is stopped, or rows wait longer than
 * `stallMs`, the store fails closed: `record()` and `reserve()` throw, and resume by themselves
 * once a commit succeeds.
 *
 * @example
 * ```ts
 * const store = ReceiptStore.open(`${stateDir}/receipts.db`, { onError: (e) => log.error(e) });
 * await store.ready(); // the writer is up
 * const id = store.record(input); // throws AuditUnavailableError: deny, never forward unrecorded
 * await store.close();
 * ```
 */
export class ReceiptStore {
  static {
    workerOf = (store) => store.#channel.worker;
  }

  /** Path of the database file. */
  readonly path: string;
  readonly #ids = new ReceiptIdGenerator();
  readonly #maxQueue: number;
  /** Protocol names receipts may carry; `null`: any lowercase name. */
  readonly #protocols: ReadonlySet<string> | null;
  readonly #stallMs: number;
  readonly #onError: (error: Error) => void;
  readonly #onFlush: (info: { rows: number; durationMs: number }) => void;
  readonly #onHealth: (problem: string | null) => void;
  readonly #channel: WriterChannel;
  readonly #ready = Promise.withResolvers<void>();
  readonly #commits = new CommitTracker();
  readonly #prunes = new PruneRequests();
  #reserved = 0;
  /** Why the last commit failed, until one succeeds: the store refuses meanwhile. */
  #failing: Error | undefined;
  #problem: string | null = null;
  #stopped: Error | undefined;
  #closed = false;
  #writerClosing = false;
  #writerClosed: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  private constructor(path: string, options: ReceiptStoreOptions, config: WriterConfig) {
    this.path = path;
    this.#maxQueue = options.maxQueue ?? 10_000;
    this.#protocols = options.protocols ? new Set([...options.protocols, GATEWAY_PROTOCOL]) : null;
    this.#stallMs = options.stallMs ?? Math.max(1000, 20 * commitInterval(options));
    this.#onError = options.onError ?? (() => {});
    this.#onFlush = options.onFlush ?? (() => {});
    this.#onHealth = options.onHealth ?? (() => {});
    // Nobody has to call ready(); a writer that fails to start is also reported via onError.
    this.#ready.promise.catch(() => {});
    this.#channel = new WriterChannel({
      worker: options.worker ?? true,
      sendIntervalMs: sendInterval(options),
      receive: (message) => this.#receive(message),
      stopped: (detail) => this.#stop(detail),
    });
    this.#channel.post({ type: "open", config });
  }

  /**
   * Opens (creating if missing, mode 0600) the receipts database at `path`, in WAL mode, and
   * starts its writer. Errors about the database itself (path, schema version) throw here.
   *
   * @example
   * ```ts
   * const store = ReceiptStore.open("./state/receipts.db", { maxQueue: 50_000 });
   * ```
   */
  static open(path: string, options: ReceiptStoreOptions = {}): ReceiptStore {
    integerOption("maxQueue", options.maxQueue, 1);
    integerOption("maxBatch", options.maxBatch, 1);
    integerOption("busyTimeoutMs", options.busyTimeoutMs, 0);
    integerOption("commitIntervalMs", options.commitIntervalMs, 0);
    integerOption("sendIntervalMs", options.sendIntervalMs, 0);
    integerOption("stallMs", options.stallMs, 1);
    const synchronous = options.synchronous === "normal" ? "normal" : "full";
    const busyTimeoutMs = options.busyTimeoutMs ?? 10;
    // Opened and migrated here, so a bad database fails open() itself rather than the writer
    // later; the writer then opens its own connection.
    openDatabase(path, { synchronous, busyTimeoutMs, onMigration: options.onMigration }).close();
    return new ReceiptStore(path, options, {
      path,
      synchronous,
      busyTimeoutMs,
      maxBatch: options.maxBatch ?? 500,
      // A row waits for the next send, then for the next commit: together within the interval.
      commitIntervalMs: Math.max(0, commitInterval(options) - sendInterval(options)),
    });
  }

  /**
   * Resolves once the writer runs and has opened the database. Rejects when it cannot (e.g. the
   * worker's module is not readable under the process's permissions).
   */
  ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Receipts and outcomes recorded but not yet committed. */
  get queued(): number {
    return this.#commits.queued;
  }

  /** Reservations whose outcome is not recorded yet (allowed actions still being forwarded). */
  get reserved(): number {
    return this.#reserved;
  }

  /** Why the store refuses receipts right now, or `null` when it takes them. */
  problem(): string | null {
    this.#checkStall();
    return this.#problem;
  }

  /**
   * Queues a final receipt (a deny) and returns its public id at once. Throws
   * `AuditUnavailableError` when the store refuses receipts (see the class), and `TypeError` for a
   * malformed input: either way the caller must deny.
   *
   * @example
   * ```ts
   * const id = store.record({ ...input, verdict: "deny", reason: "DDL is not allowed" });
   * ```
   */
  record(input: ReceiptInput): string {
    // One clock reading serves the stall check and the row's queueing time.
    const now = this.#commits.now();
    this.#ensureRoom(now);
    const row = toPendingRow(this.#ids.next(), input, this.#protocols);
    this.#enqueue(row, false, now);
    return row.id;
  }

  /**
   * Writes an allowed action's receipt ahead of forwarding it: the row is queued now, and
   * `complete()` adds what happened. With `durable`, the row is committed at once and
   * `reservation.durable` says when it is on disk; the caller forwards only then. Throws like
   * `record()`, and the caller must then deny.
   *
   * @example
   * ```ts
   * const receipt = store.reserve(decision, { durable: true });
   * await receipt.durable; // rejects: deny, never forward unrecorded
   * // … forward the request …
   * receipt.complete({ ...outcome, upstreamStatus: 200, bytesOut: 512 });
   * ```
   */
  reserve(decision: ReceiptInput, options: { durable?: boolean } = {}): ReceiptReservation {
    const now = this.#commits.now();
    this.#ensureRoom(now);
    const row = toPendingRow(this.#ids.next(), decision, this.#protocols);
    row.ahead = 1;
    // Read before the push: an in-process writer takes the row during it.
    const sends = this.#channel.sends;
    const number = this.#enqueue(row, options.durable === true, now);
    this.#reserved++;
    let done = false;
    return {
      id: row.id,
      durable: options.durable ? this.#commits.waitFor(number) : Promise.resolve(),
      complete: (outcome: OutcomeInput) => {
        if (done) throw new TypeError(`Receipt '${row.id}' was already completed`);
        // Checked before it counts as done: a malformed outcome throws and may be given again.
        const error = checkedOutcomeError(row.id, outcome);
        done = true;
        this.#reserved--;
        // Still in this process (no send since): one row says it all, as for version 1 rows.
        if (this.#channel.sends === sends) mergeOutcome(row, outcome, error);
        else this.#enqueue(toPendingOutcome(row.id, outcome), false, this.#commits.now());
      },
    };
  }

  #ensureRoom(now: number): void {
    if (this.#closed) throw new AuditUnavailableError(`Receipt store '${this.path}' is closed`);
    if (this.#stopped) throw new AuditUnavailableError(this.#stopped.message);
    this.#checkStall(now);
    if (this.#problem !== null) throw new AuditUnavailableError(this.#problem);
    if (this.queued + this.#reserved >= this.#maxQueue) {
      throw new AuditUnavailableError(
        `Receipt queue is full: ${this.queued} rows not yet written, ${this.#reserved} in flight`,
      );
    }
  }

  // Called on every receipt: a hung writer is noticed by the next action, not by a timer.
  #checkStall(now = this.#commits.now()): void {
    if (this.#problem !== null || this.#stopped) return;
    const waited = this.#commits.oldestWaitMs(now);
    if (waited > this.#stallMs) {
      this.#setProblem(
        `receipts are not being written: the oldest has waited ${Math.round(waited)} ms`,
      );
    }
  }

  #setProblem(problem: string | null): void {
    if (problem === this.#problem) return;
    const was = this.#problem;
    this.#problem = problem;
    if ((was === null) !== (problem === null)) this.#onHealth(problem);
  }

  // Outcomes are written even after close() began: the action was forwarded, so it must not
  // lose its record. Only a stopped or closed writer refuses.
  /** `now`: the commit tracker's clock, read by the caller. */
  #enqueue(row: StoreRow, urgent: boolean, now: number): number {
    if (this.#stopped) throw new AuditUnavailableError(this.#stopped.message);
    if (this.#writerClosing) {
      throw new AuditUnavailableError(`Receipt store '${this.path}' is closed`);
    }
    const number = this.#commits.recorded(now);
    this.#channel.push(row, urgent);
    return number;
  }

  #receive(message: FromWriter): void {
    switch (message.type) {
      case "opened":
        this.#ready.resolve();
        return;
      case "openFailed": {
        const error = new Error(`Cannot start the receipt writer: ${message.error}`);
        this.#ready.reject(error);
        this.#onError(error);
        return;
      }
      case "committed":
        this.#commits.committed(message.rows);
        this.#failing = undefined;
        if (!this.#stopped) this.#setProblem(null);
        this.#checkStall();
        this.#onFlush({ rows: message.rows, durationMs: message.durationMs });
        return;
      case "failed": {
        const error = new Error(
          `Cannot write ${message.rows} receipts to '${this.path}' (${this.queued} queued): ${message.error}`,
        );
        this.#failing = error;
        this.#setProblem(`receipts cannot be written: ${message.error}`);
        this.#commits.rejectAll(new AuditUnavailableError(error.message));
        this.#onError(error);
        return;
      }
      case "pruned":
      case "pruneFailed":
        return this.#prunes.settle(message);
      case "closed":
        this.#writerClosed?.();
        return;
    }
  }

  /** Prunes one batch older than `cutoff` (`pruneBatch`) in the writer, between its commits. */
  prune(cutoff: Date, batch = PRUNE_BATCH): Promise<Pruned> {
    if (this.#stopped || this.#writerClosing) return Promise.reject(new Error("store closed"));
    const { id, answer } = this.#prunes.open();
    this.#channel.post({ type: "prune", id, cutoff: cutoff.toISOString(), batch });
    return answer;
  }

  // The writer is gone with whatever it held: fail closed from now on, and say how much was lost.
  #stop(detail: string): void {
    if (this.#stopped) return;
    const error = new Error(
      `Receipt writer for '${this.path}' stopped with ${this.queued} receipts unwritten: ${detail}`,
    );
    this.#stopped = error;
    this.#channel.terminate();
    this.#ready.reject(error);
    this.#commits.rejectAll(new AuditUnavailableError(error.message));
    this.#prunes.failAll(error);
    this.#writerClosed?.();
    this.#setProblem(error.message);
    this.#onError(error);
  }

  /**
   * Resolves once every receipt recorded before the call is committed. Rejects with
   * `AuditUnavailableError` if a commit fails first (the receipts stay queued and are retried)
   * or the writer stopped.
   */
  flushed(): Promise<void> {
    const target = this.#commits.last;
    if (this.queued === 0) return Promise.resolve();
    if (this.#stopped) return Promise.reject(new AuditUnavailableError(this.#stopped.message));
    if (this.#writerClosing) {
      return Promise.reject(
        new AuditUnavailableError(`Receipt store '${this.path}' closed with receipts unwritten`),
      );
    }
    const done = this.#commits.waitFor(target);
    this.#channel.send();
    // A caller waiting now should not sit out a retry backoff. Once closing, a failed commit
    // is not retried: close() reports it instead.
    this.#channel.post({ type: "flush", retry: !this.#closed });
    return done;
  }

  /**
   * Stops accepting receipts, commits the queue, closes the database and ends the writer.
   * Rejects with `AuditUnavailableError` (naming how many receipts were lost) if the last commit
   * fails or the writer stopped.
   */
  close(): Promise<void> {
    this.#closed = true;
    // Loop: an outcome recorded while the last commit ran adds rows that must be written too.
    const drain = async () => {
      do await this.flushed(); while (this.queued > 0);
    };
    this.#closing ??= drain().then(
      () => this.#shutdown(),
      async (error) => {
        const lost = this.queued;
        await this.#shutdown();
        throw new AuditUnavailableError(
          `Closed receipt store '${this.path}' with ${lost} receipts unwritten: ${message(error)}`,
        );
      },
    );
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#writerClosing = true;
    this.#channel.cancel();
    if (!this.#stopped) {
      const closed = new Promise<void>((resolve) => this.#writerClosed = resolve);
      this.#channel.post({ type: "close" });
      await closed;
    }
    this.#channel.terminate();
  }
}

/**
 * The outcome folded into a receipt row that has not left the process yet: the single-row form
 * version 1 wrote. Not run means the action's record is a deny (its rule's allow is the would-be
 * verdict), so no allow stands for something that never ran. `error` is the outcome's error
 * text as stored (see `checkedOutcomeError`).
 */
function mergeOutcome(row: PendingRow, outcome: OutcomeInput, error: string | null): void {
  row.ahead = 0;
  row.upstream_status = outcome.upstreamStatus;
  row.bytes_in = outcome.bytesIn;
  row.bytes_out = outcome.bytesOut;
  row.latency_ms = outcome.latencyMs;
  if (error !== null) row.reason = `${row.reason} (${error})`;
  if (outcome.notRun) row.verdict = "deny";
}

/**
 * The writer worker of `store`, for this folder's tests (mod.ts does not export it): they make
 * it crash to check that the store then fails closed.
 */
export function writerWorkerOf(store: ReceiptStore): Worker | undefined {
  return workerOf(store);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
