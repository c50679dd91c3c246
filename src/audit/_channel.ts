/**
 * The way rows reach the receipt writer: a Web Worker (SQLite, hashing and fsync off the event
 * loop) or, with `worker: false`, a writer on this thread. Rows are batched: at most one message
 * per send interval, or at the next microtask when someone waits for one of them to be durable.
 *
 * @module
 */

import {
  type FromWriter,
  ReceiptWriter,
  sealRows,
  type StoreRow,
  type ToWriter,
} from "./_writer.ts";
import { WRITER_WORKER_NAME } from "./_writer.ts";

/** Options for a {@linkcode WriterChannel}. */
export interface WriterChannelOptions {
  worker: boolean;
  sendIntervalMs: number;
  receive(message: FromWriter): void;
  /** The worker died or sent what cannot be read: the store must fail closed. */
  stopped(detail: string): void;
}

/** Carries rows and commands to the writer, and its answers back. */
export class WriterChannel {
  readonly #worker: Worker | undefined;
  readonly #local: ReceiptWriter | undefined;
  readonly #sendIntervalMs: number;
  #unsent: StoreRow[] = [];
  #urgent = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #microtask = false;
  /** When rows last went to the writer (performance.now()). */
  #lastSend = -Infinity;
  #sends = 0;
  #dead = false;

  constructor(options: WriterChannelOptions) {
    this.#sendIntervalMs = options.sendIntervalMs;
    if (options.worker) {
      const url = new URL("./_writer_worker.ts", import.meta.url).href;
      const worker = new Worker(url, { type: "module", name: WRITER_WORKER_NAME });
      worker.onmessage = (event: MessageEvent<FromWriter>) => options.receive(event.data);
      // preventDefault: a dead writer must fail the store closed, not crash the gateway.
      worker.onerror = (event) => {
        event.preventDefault();
        options.stopped(event.message);
      };
      worker.onmessageerror = () => options.stopped("a message from the writer could not be read");
      this.#worker = worker;
    } else {
      this.#local = new ReceiptWriter((message) => options.receive(message));
    }
  }

  /** The worker, for tests that make it crash. */
  get worker(): Worker | undefined {
    return this.#worker;
  }

  /**
   * How many batches have left this process. A row pushed when this read `n` is still here
   * (and may be amended in place) while it still reads `n`.
   */
  get sends(): number {
    return this.#sends;
  }

  /** Queues `row` for the writer; `urgent`: someone waits for it to be durable. */
  push(row: StoreRow, urgent: boolean): void {
    if (this.#local) {
      this.#sends++;
      this.#local.handle({ type: "rows", rows: sealRows([row]), urgent });
      return;
    }
    this.#unsent.push(row);
    if (urgent) {
      this.#urgent = true;
      if (!this.#microtask) {
        this.#microtask = true;
        queueMicrotask(this.send);
      }
    } else {
      this.#timer ??= setTimeout(this.send, this.#untilNextSend());
    }
  }

  #untilNextSend(): number {
    const wait = this.#lastSend + this.#sendIntervalMs - performance.now();
    return wait > 0 ? wait : 0;
  }

  /**
   * Sends what is queued now: one message however many rows (each costs this thread and wakes
   * the writer). Receipts leave sealed (`sealRow`): their stored text but for seq and prev_hash,
   * with the facts' JSON inside as it is, so the writer clones two strings per receipt instead of
   * twenty fields and only prefixes its place in the chain. Sealing here, not in `reserve()`,
   * leaves an outcome free to fold into its row until the row leaves. Measured against cloning
   * the rows (stop 43, alternating runs): Postgres `pgbench -S` 54.5–57.0 → 51.4–52.8 µs per
   * transaction (the writer −2.3), HTTPS GET 85.0–88.1 → 83.3–88.3 (the writer −1.5).
   */
  readonly send = (): void => {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#microtask = false;
    if (this.#unsent.length === 0 || this.#dead) return;
    this.#lastSend = performance.now();
    this.#sends++;
    const rows = this.#unsent;
    const urgent = this.#urgent;
    this.#unsent = [];
    this.#urgent = false;
    this.post({ type: "rows", rows: sealRows(rows), urgent });
  };

  /** Sends a command (after any rows queued before it). */
  post(message: ToWriter): void {
    if (this.#worker) this.#worker.postMessage(message);
    else this.#local!.handle(message);
  }

  /** Stops sending; drops what was not sent. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unsent = [];
  }

  /** Ends the worker (a live one would keep a finished process running). */
  terminate(): void {
    this.#dead = true;
    this.cancel();
    this.#worker?.terminate();
  }
}
