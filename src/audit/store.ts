/**
 * The receipt store: one hash-chained row per decided action in `state_dir/receipts.db`.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { AuditUnavailableError, type ReceiptInput } from "../core/mod.ts";
import { ReceiptIdGenerator } from "./_id.ts";
import { migrate } from "./_schema.ts";
import {
  GENESIS_HASH,
  INSERT_SQL,
  insertValues,
  type PendingRow,
  rowHash,
  type StoredRow,
  toPendingRow,
} from "./_row.ts";

/** Options for {@linkcode ReceiptStore.open}. */
export interface ReceiptStoreOptions {
  /** Most receipts held in memory awaiting commit; past it `record()` throws. @default {10_000} */
  maxQueue?: number;
  /** Most receipts per transaction; bounds how long one flush blocks the event loop. @default {500} */
  maxBatch?: number;
  /**
   * SQLite `synchronous` level. `"full"` fsyncs the WAL at every commit and survives power loss;
   * `"normal"` survives a process crash only. @default {"full"}
   */
  synchronous?: "full" | "normal";
  /** How long a flush waits on another writer's lock before giving up and retrying later. @default {10} */
  busyTimeoutMs?: number;
  /** Told about every failed flush. The receipts stay queued and are retried with backoff. */
  onError?: (error: Error) => void;
  /** Told about every committed batch (for metrics). */
  onFlush?: (info: { rows: number; durationMs: number }) => void;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

const RETRY_FIRST_MS = 10;
const RETRY_MAX_MS = 1000;

/** A receipt whose id exists before its outcome is known; see {@linkcode ReceiptStore.reserve}. */
export interface ReceiptReservation {
  readonly id: string;
  /** Queues the row under the reserved id. Throws TypeError when called twice or for bad input. */
  complete(input: ReceiptInput): void;
}

/**
 * Writes receipts off the request path. `record()` validates the input, assigns an id and queues
 * the row; a timer commits queued rows in batches, one transaction (one fsync) per batch, and
 * computes the hash chain inside that transaction.
 *
 * @example
 * ```ts
 * const store = ReceiptStore.open(`${stateDir}/receipts.db`, { onError: (e) => log.error(e) });
 * const id = store.record(input); // throws AuditUnavailableError: deny, never forward unrecorded
 * await store.close();
 * ```
 */
export class ReceiptStore {
  /** Path of the database file. */
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #head: StatementSync;
  readonly #ids = new ReceiptIdGenerator();
  readonly #maxQueue: number;
  readonly #maxBatch: number;
  readonly #onError: (error: Error) => void;
  readonly #onFlush: (info: { rows: number; durationMs: number }) => void;
  #queue: PendingRow[] = [];
  #reserved = 0;
  #recorded = 0;
  #committed = 0;
  #waiters: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #lastError: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(path: string, db: DatabaseSync, options: ReceiptStoreOptions) {
    this.path = path;
    this.#db = db;
    this.#insert = db.prepare(INSERT_SQL);
    this.#head = db.prepare("SELECT seq, hash FROM receipts ORDER BY seq DESC LIMIT 1");
    this.#maxQueue = options.maxQueue ?? 10_000;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#onError = options.onError ?? (() => {});
    this.#onFlush = options.onFlush ?? (() => {});
  }

  /**
   * Opens (creating if missing) the receipts database at `path`, in WAL mode.
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
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 10 });
      const { journal_mode } = db.prepare("PRAGMA journal_mode = WAL").get() as {
        journal_mode: string;
      };
      if (journal_mode !== "wal") throw new Error(`journal_mode is '${journal_mode}', not 'wal'`);
      // FULL: in WAL mode NORMAL already survives a process crash, but a power loss or kernel
      // panic can lose the last commits, and a receipt may be all that shows what an agent did.
      // FULL adds one fsync of the WAL per commit. Commits happen in batches from a timer, never
      // inside record(), so that is one fsync per batch (about 0.3 ms on this VM's disk, see
      // bench/audit_bench.ts), and batches grow under load, so the cost per receipt falls as the
      // rate rises. NORMAL remains an option for disks where fsync is slow.
      db.exec(`PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
      migrate(db);
      return new ReceiptStore(path, db, options);
    } catch (error) {
      if (db?.isOpen) db.close();
      throw new Error(`Cannot open receipts database '${path}': ${message(error)}`, {
        cause: error,
      });
    }
  }

  /** Receipts recorded but not yet committed. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Queues a receipt and returns its public id at once; the row is committed shortly after.
   * Throws `AuditUnavailableError` when the queue is full or the store is closed, and
   * `TypeError` for a malformed input: either way the caller must deny the action.
   *
   * @example
   * ```ts
   * const id = store.record({ ...input, verdict: "deny", reason: "DDL is not allowed" });
   * ```
   */
  record(input: ReceiptInput): string {
    this.#ensureRoom();
    return this.#enqueue(this.#ids.next(), input);
  }

  /**
   * Reserves a receipt for an action whose outcome is not known yet (an allowed request still
   * being forwarded): the id exists now and the place in the queue is held, so completing it
   * later cannot fail for lack of room. Throws like `record()` when there is no room, and the
   * caller must then deny. The row is written when `complete()` is called; until then it counts
   * against `maxQueue`.
   *
   * @example
   * ```ts
   * const receipt = store.reserve();
   * // … forward the request …
   * receipt.complete({ ...input, upstreamStatus: 200, bytesOut: 512 });
   * ```
   */
  reserve(): ReceiptReservation {
    this.#ensureRoom();
    const id = this.#ids.next();
    this.#reserved++;
    let done = false;
    return {
      id,
      complete: (input: ReceiptInput) => {
        if (done) throw new TypeError(`Receipt '${id}' was already completed`);
        done = true;
        this.#reserved--;
        this.#enqueue(id, input);
      },
    };
  }

  /** Receipts reserved and not yet completed. */
  get reserved(): number {
    return this.#reserved;
  }

  #ensureRoom(): void {
    if (this.#closed) throw new AuditUnavailableError(`Receipt store '${this.path}' is closed`);
    if (this.#queue.length + this.#reserved >= this.#maxQueue) {
      const why = this.#lastError ? message(this.#lastError) : "writes are not keeping up";
      throw new AuditUnavailableError(
        `Receipt queue is full: ${this.#queue.length} receipts not yet written, ${this.#reserved} in flight: ${why}`,
      );
    }
  }

  // A completed reservation is written even after close() began: its room was held, and an
  // action that was forwarded must not lose its receipt. Only a closed database refuses it.
  #enqueue(id: string, input: ReceiptInput): string {
    const row = toPendingRow(id, input);
    if (!this.#db.isOpen) {
      throw new AuditUnavailableError(`Receipt store '${this.path}' is closed`);
    }
    this.#queue.push(row);
    this.#recorded++;
    if (this.#timer === undefined) this.#schedule(0);
    return row.id;
  }

  /**
   * Resolves once every receipt recorded before the call is committed. Rejects with
   * `AuditUnavailableError` if a flush fails first (the receipts stay queued and are retried).
   *
   * @example
   * ```ts
   * store.record(input);
   * await store.flushed(); // the row is now on disk
   * ```
   */
  flushed(): Promise<void> {
    const target = this.#recorded;
    if (this.#committed >= target) return Promise.resolve();
    if (!this.#db.isOpen) {
      return Promise.reject(
        new AuditUnavailableError(`Receipt store '${this.path}' closed with receipts unwritten`),
      );
    }
    const done = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ target, resolve, reject });
    });
    // A caller waiting now should not sit out a retry backoff.
    this.#schedule(0);
    return done;
  }

  /**
   * Stops accepting receipts, commits the queue and closes the database. Rejects with
   * `AuditUnavailableError` (naming how many receipts were lost) if the last flush fails.
   *
   * @example
   * ```ts
   * Deno.addSignalListener("SIGTERM", () => store.close());
   * ```
   */
  close(): Promise<void> {
    this.#closed = true;
    // Loop: a reservation completed while the last flush ran adds rows that must be written too.
    const drain = async () => {
      do await this.flushed(); while (this.#queue.length > 0);
    };
    this.#closing ??= drain().then(
      () => this.#shutdown(),
      (error) => {
        const lost = this.#queue.length;
        this.#shutdown();
        throw new AuditUnavailableError(
          `Closed receipt store '${this.path}' with ${lost} receipts unwritten: ${message(error)}`,
        );
      },
    );
    return this.#closing;
  }

  #shutdown(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#db.close();
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, delayMs);
  }

  #flush(): void {
    if (this.#queue.length === 0 || !this.#db.isOpen) return;
    const batch = this.#queue.slice(0, this.#maxBatch);
    const started = performance.now();
    try {
      this.#commit(batch);
    } catch (error) {
      this.#failed(batch.length, error);
      return;
    }
    this.#queue.splice(0, batch.length);
    this.#committed += batch.length;
    this.#failures = 0;
    this.#lastError = undefined;
    while (this.#waiters.length > 0 && this.#waiters[0].target <= this.#committed) {
      this.#waiters.shift()!.resolve();
    }
    if (this.#queue.length > 0) this.#schedule(0);
    this.#onFlush({ rows: batch.length, durationMs: performance.now() - started });
  }

  // The chain head is read inside the write transaction (BEGIN IMMEDIATE holds the write lock),
  // so seq and prev_hash are right even after a restart or if another process appended rows.
  // Hashing happens here rather than in record() because seq and prev_hash only exist here.
  #commit(batch: PendingRow[]): void {
    // A transaction left open by a failed ROLLBACK would make every BEGIN fail; end it first.
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const head = this.#head.get() as { seq: number; hash: string } | undefined;
      let seq = head?.seq ?? 0;
      let prevHash = head?.hash ?? GENESIS_HASH;
      for (const pending of batch) {
        const row = { ...pending, seq: ++seq, prev_hash: prevHash } as StoredRow;
        row.hash = prevHash = rowHash(row);
        this.#insert.run(...insertValues(row));
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      try {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      } catch {
        // The commit error is the one worth reporting; the next attempt retries the rollback.
      }
      throw error;
    }
  }

  #failed(rows: number, cause: unknown): void {
    const error = new Error(
      `Cannot write ${rows} receipts to '${this.path}' (${this.#queue.length} queued): ${
        message(cause)
      }`,
      { cause },
    );
    this.#lastError = error;
    this.#failures++;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(new AuditUnavailableError(error.message));
    if (!this.#closed) {
      this.#schedule(Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.#failures - 1)));
    }
    this.#onError(error);
  }
}

function integerOption(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
    throw new RangeError(
      `Invalid receipt store option ${name} '${value}': expected an integer >= ${min}`,
    );
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
