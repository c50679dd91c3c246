/**
 * The receipt store: one hash-chained row per decided action in `state_dir/receipts.db`.
 *
 * @module
 */

import { AuditUnavailableError, type ReceiptInput } from "../core/mod.ts";
import { ReceiptIdGenerator } from "./_id.ts";
import { type PendingRow, toPendingRow } from "./_row.ts";
import {
  type FromWriter,
  openDatabase,
  ReceiptWriter,
  type ToWriter,
  WRITER_WORKER_NAME,
  type WriterConfig,
} from "./_writer.ts";
// For `deno compile` only: outside the writer worker the module does nothing (see its header).
import "./_writer_worker.ts";

/** Options for {@linkcode ReceiptStore.open}. */
export interface ReceiptStoreOptions {
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
   * (each wakes the writer thread), at once after a quiet spell. @default {2}
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
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

// Set by ReceiptStore's static block, the one place that can read its private #worker.
let workerOf: (store: ReceiptStore) => Worker | undefined;

/** A receipt whose id exists before its outcome is known; see {@linkcode ReceiptStore.reserve}. */
export interface ReceiptReservation {
  readonly id: string;
  /** Queues the row under the reserved id. Throws TypeError when called twice or for bad input. */
  complete(input: ReceiptInput): void;
}

/**
 * Writes receipts off the request path. `record()` validates the input, assigns an id and queues
 * the row; every few ms (`sendIntervalMs`) the queued rows go to a writer in a Web Worker, which
 * commits them in batches (group commit, at most one per `commitIntervalMs` under load), one
 * transaction (one fsync) per batch, and computes the hash chain inside that transaction. If
 * the worker dies, the store fails closed: every later `record()` throws.
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
    workerOf = (store) => store.#worker;
  }

  /** Path of the database file. */
  readonly path: string;
  readonly #ids = new ReceiptIdGenerator();
  readonly #maxQueue: number;
  readonly #onError: (error: Error) => void;
  readonly #onFlush: (info: { rows: number; durationMs: number }) => void;
  readonly #worker: Worker | undefined;
  readonly #local: ReceiptWriter | undefined;
  readonly #ready = Promise.withResolvers<void>();
  // Rows not yet handed to the worker; sent together at most once per send interval.
  #unsent: PendingRow[] = [];
  #sendTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #sendIntervalMs: number;
  /** When rows last went to the writer (performance.now()). */
  #lastSend = -Infinity;
  #reserved = 0;
  #recorded = 0;
  #committed = 0;
  #waiters: Waiter[] = [];
  #lastError: Error | undefined;
  #stopped: Error | undefined;
  #closed = false;
  #writerClosing = false;
  #writerClosed: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  private constructor(path: string, options: ReceiptStoreOptions, config: WriterConfig) {
    this.path = path;
    this.#maxQueue = options.maxQueue ?? 10_000;
    this.#onError = options.onError ?? (() => {});
    this.#onFlush = options.onFlush ?? (() => {});
    this.#sendIntervalMs = options.sendIntervalMs ?? 2;
    // Nobody has to call ready(); a writer that fails to start is also reported via onError.
    this.#ready.promise.catch(() => {});
    if (options.worker ?? true) {
      const url = new URL("./_writer_worker.ts", import.meta.url).href;
      const worker = new Worker(url, { type: "module", name: WRITER_WORKER_NAME });
      worker.onmessage = (event: MessageEvent<FromWriter>) => this.#receive(event.data);
      // preventDefault: a dead writer must fail the store closed, not crash the gateway.
      worker.onerror = (event) => {
        event.preventDefault();
        this.#stop(event.message);
      };
      worker.onmessageerror = () => this.#stop("a message from the writer could not be read");
      this.#worker = worker;
    } else {
      this.#local = new ReceiptWriter((message) => this.#receive(message));
    }
    this.#post({ type: "open", config });
  }

  /**
   * Opens (creating if missing) the receipts database at `path`, in WAL mode, and starts its
   * writer. Errors about the database itself (path, schema version) throw here.
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
    const synchronous = options.synchronous === "normal" ? "normal" : "full";
    const busyTimeoutMs = options.busyTimeoutMs ?? 10;
    // Opened and migrated here, so a bad database fails open() itself rather than the writer
    // later; the writer then opens its own connection.
    openDatabase(path, { synchronous, busyTimeoutMs }).close();
    return new ReceiptStore(path, options, {
      path,
      synchronous,
      busyTimeoutMs,
      maxBatch: options.maxBatch ?? 500,
      commitIntervalMs: options.commitIntervalMs ?? 10,
    });
  }

  /**
   * Resolves once the writer runs and has opened the database. Rejects when it cannot, e.g. the
   * worker's module is not readable under the process's permissions; the gateway waits for this
   * at startup so such a store fails there, not at the first receipt.
   *
   * @example
   * ```ts
   * const store = ReceiptStore.open(path);
   * await store.ready();
   * ```
   */
  ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Receipts recorded but not yet committed. */
  get queued(): number {
    return this.#recorded - this.#committed;
  }

  /**
   * Queues a receipt and returns its public id at once; the row is committed shortly after.
   * Throws `AuditUnavailableError` when the queue is full, the store is closed or its writer
   * stopped, and `TypeError` for a malformed input: either way the caller must deny the action.
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
    if (this.#stopped) throw new AuditUnavailableError(this.#stopped.message);
    if (this.queued + this.#reserved >= this.#maxQueue) {
      const why = this.#lastError ? message(this.#lastError) : "writes are not keeping up";
      throw new AuditUnavailableError(
        `Receipt queue is full: ${this.queued} receipts not yet written, ${this.#reserved} in flight: ${why}`,
      );
    }
  }

  // A completed reservation is written even after close() began: its room was held, and an
  // action that was forwarded must not lose its receipt. Only a closed or stopped writer refuses.
  #enqueue(id: string, input: ReceiptInput): string {
    const row = toPendingRow(id, input);
    if (this.#stopped) throw new AuditUnavailableError(this.#stopped.message);
    if (this.#writerClosing) {
      throw new AuditUnavailableError(`Receipt store '${this.path}' is closed`);
    }
    this.#recorded++;
    if (this.#local) {
      this.#local.handle({ type: "rows", rows: [row] });
    } else {
      this.#unsent.push(row);
      this.#sendTimer ??= setTimeout(this.#send, this.#untilNextSend());
    }
    return row.id;
  }

  #untilNextSend(): number {
    const wait = this.#lastSend + this.#sendIntervalMs - performance.now();
    return wait > 0 ? wait : 0;
  }

  // One message per send interval however many receipts it recorded, and as one JSON string:
  // posting a string costs this thread far less than cloning an array of objects
  // (bench/audit_bench.ts).
  #send = (): void => {
    clearTimeout(this.#sendTimer);
    this.#sendTimer = undefined;
    if (this.#unsent.length === 0 || this.#stopped) return;
    this.#lastSend = performance.now();
    const json = JSON.stringify(this.#unsent);
    this.#unsent = [];
    this.#post({ type: "rows", json });
  };

  #post(message: ToWriter): void {
    if (this.#worker) this.#worker.postMessage(message);
    else this.#local!.handle(message);
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
        this.#committed += message.rows;
        this.#lastError = undefined;
        while (this.#waiters.length > 0 && this.#waiters[0].target <= this.#committed) {
          this.#waiters.shift()!.resolve();
        }
        this.#onFlush({ rows: message.rows, durationMs: message.durationMs });
        return;
      case "failed": {
        const error = new Error(
          `Cannot write ${message.rows} receipts to '${this.path}' (${this.queued} queued): ${message.error}`,
        );
        this.#lastError = error;
        this.#rejectWaiters(new AuditUnavailableError(error.message));
        this.#onError(error);
        return;
      }
      case "closed":
        this.#writerClosed?.();
        return;
    }
  }

  // The writer is gone with whatever it held: fail closed from now on, and say how much was lost.
  #stop(detail: string): void {
    if (this.#stopped) return;
    const error = new Error(
      `Receipt writer for '${this.path}' stopped with ${this.queued} receipts unwritten: ${detail}`,
    );
    this.#stopped = error;
    this.#worker?.terminate();
    clearTimeout(this.#sendTimer);
    this.#sendTimer = undefined;
    this.#unsent = [];
    this.#ready.reject(error);
    this.#rejectWaiters(new AuditUnavailableError(error.message));
    this.#writerClosed?.();
    this.#onError(error);
  }

  #rejectWaiters(error: AuditUnavailableError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(error);
  }

  /**
   * Resolves once every receipt recorded before the call is committed. Rejects with
   * `AuditUnavailableError` if a commit fails first (the receipts stay queued and are retried)
   * or the writer stopped.
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
    if (this.#stopped) return Promise.reject(new AuditUnavailableError(this.#stopped.message));
    if (this.#writerClosing) {
      return Promise.reject(
        new AuditUnavailableError(`Receipt store '${this.path}' closed with receipts unwritten`),
      );
    }
    const done = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ target, resolve, reject });
    });
    this.#send();
    // A caller waiting now should not sit out a retry backoff. Once closing, a failed commit
    // is not retried: close() reports it instead.
    this.#post({ type: "flush", retry: !this.#closed });
    return done;
  }

  /**
   * Stops accepting receipts, commits the queue, closes the database and ends the writer.
   * Rejects with `AuditUnavailableError` (naming how many receipts were lost) if the last commit
   * fails or the writer stopped.
   *
   * @example
   * ```ts
   * Deno.addSignalListener("SIGTERM", () => store.close());
   * ```
   */
  close(): Promise<void> {
    this.#closed = true;
    // Loop: a reservation completed while the last commit ran adds rows that must be written too.
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
    clearTimeout(this.#sendTimer);
    this.#sendTimer = undefined;
    if (!this.#stopped) {
      const closed = new Promise<void>((resolve) => this.#writerClosed = resolve);
      this.#post({ type: "close" });
      await closed;
    }
    // Terminated, not left idle: a live worker would keep a finished process (or test) running.
    this.#worker?.terminate();
  }
}

/**
 * The writer worker of `store`, for this folder's tests (mod.ts does not export it): they make
 * it crash to check that the store then fails closed.
 */
export function writerWorkerOf(store: ReceiptStore): Worker | undefined {
  return workerOf(store);
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
