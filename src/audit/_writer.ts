/**
 * The receipt writer: commits validated rows in batches, one transaction (one fsync) per batch,
 * computing the hash chain inside it. It runs in `_writer_worker.ts` so SQLite, hashing and fsync
 * stay off the gateway's event loop, or on the calling thread when a store is opened with
 * `worker: false`. Either way it speaks only the messages below, so both modes share one code path.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { migrate, type MigrationStep } from "./_schema.ts";
import { pruneIn } from "./prune.ts";
import type { PendingRow } from "./_row.ts";
import {
  chainedText,
  chainHash,
  GENESIS_HASH,
  INSERT_SQL,
  type SealedRow,
  sealRow,
} from "./_chain_text.ts";
import {
  INSERT_OUTCOME_SQL,
  outcomeHash,
  outcomeValues,
  type PendingOutcome,
  type StoredOutcome,
} from "./_outcome.ts";

/** What the store queues: a receipt, or the outcome of one queued earlier. */
export type StoreRow = PendingRow | PendingOutcome;

/** What the writer appends: a sealed receipt, or the outcome of one written earlier (or earlier in the batch). */
export type QueuedRow = SealedRow | PendingOutcome;

/** Whether `row` is an outcome (outcomes name their receipt; receipts have their own id). */
export function isOutcome(row: StoreRow | QueuedRow): row is PendingOutcome {
  return !("id" in row);
}

/** `rows` as the writer takes them, sealed in place: the array is the caller's to give away. */
export function sealRows(rows: StoreRow[]): QueuedRow[] {
  const out = rows as (StoreRow | QueuedRow)[];
  for (let i = 0; i < out.length; i++) {
    const row = out[i];
    if (!isOutcome(row)) out[i] = sealRow(row as PendingRow);
  }
  return out as QueuedRow[];
}

/** How the writer opens the database. */
export interface WriterConfig {
  path: string;
  synchronous: "full" | "normal";
  busyTimeoutMs: number;
  maxBatch: number;
  /** Least time from one commit to the next while rows keep coming; see ReceiptStoreOptions. */
  commitIntervalMs: number;
}

/** Messages from the store to the writer, in the order the store sends them. */
export type ToWriter =
  | { type: "open"; config: WriterConfig }
  // `urgent`: some row's action waits for it to be durable before being forwarded, so commit at
  // once instead of waiting out the group-commit interval (rows arriving during that commit's
  // fsync still share the next one).
  | { type: "rows"; rows: QueuedRow[]; urgent: boolean }
  // Commit now, skipping any retry backoff. `retry: false` once the store is closing: a failed
  // commit is then reported and not retried, so close() can settle.
  | { type: "flush"; retry: boolean }
  // Retention: one batch of receipts older than `cutoff` pruned here, between commits, so the
  // writer never finds the database locked by a pruner (which would deny actions meanwhile).
  | { type: "prune"; id: number; cutoff: string; batch: number }
  | { type: "close" };

/** Messages from the writer to the store. */
export type FromWriter =
  | { type: "opened" }
  | { type: "openFailed"; error: string }
  | { type: "committed"; rows: number; durationMs: number }
  // The rows stay queued in the writer and are retried with backoff.
  | { type: "failed"; rows: number; error: string }
  | { type: "pruned"; id: number; receipts: number; outcomes: number }
  | { type: "pruneFailed"; id: number; error: string }
  | { type: "closed" };

/** The writer worker's `name`; its entry module acts only in a worker of this name. */
export const WRITER_WORKER_NAME = "clawpatrol-receipt-writer";

const RETRY_FIRST_MS = 10;
const RETRY_MAX_MS = 1000;
/** Page size of a new receipts file. */
export const PAGE_BYTES = 8192;
/**
 * Receipts inserted per statement while a batch has that many left. node:sqlite's cost per
 * statement run (binding, stepping, resetting, the call itself) is paid once for all of them:
 * 4.1–4.5 → 3.0–3.2 µs per row for batches of 500 (50 rows a statement; 10 gave 3.4–3.6).
 */
const ROWS_PER_INSERT = 50;
const INSERT_ROWS_SQL = `INSERT INTO receipts (seq, id, canonical, hash) VALUES ${
  Array(ROWS_PER_INSERT).fill("(?, ?, ?, ?)").join(", ")
}`;

/**
 * Opens (creating if missing) the receipts database in WAL mode at the requested `synchronous`
 * level and migrates it. The store calls this on its own thread first, so a bad path or schema
 * fails `ReceiptStore.open()` synchronously, before any writer starts.
 */
export function openDatabase(
  path: string,
  options: {
    synchronous: "full" | "normal";
    busyTimeoutMs: number;
    onMigration?: (step: MigrationStep) => void;
  },
): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    private0600(path);
    db = new DatabaseSync(path, { timeout: options.busyTimeoutMs });
    // Before WAL, which fixes it: a new file gets 8 KiB pages (an existing one keeps its own).
    // A receipt is ~1 KB, and the writer's insert took 2.5–2.7 µs a row with them against
    // 2.9–3.5 with SQLite's 4 KiB default (batches of 500, 50 rows a statement).
    db.exec(`PRAGMA page_size = ${PAGE_BYTES}`);
    const { journal_mode } = db.prepare("PRAGMA journal_mode = WAL").get() as {
      journal_mode: string;
    };
    if (journal_mode !== "wal") throw new Error(`journal_mode is '${journal_mode}', not 'wal'`);
    setSynchronous(db, options.synchronous);
    migrate(db, options.onMigration);
    return db;
  } catch (error) {
    if (db?.isOpen) db.close();
    throw new Error(`Cannot open receipts database '${path}': ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/**
 * Receipts hold facts of every action: readable by the gateway's user only. SQLite gives the
 * -wal and -shm files the database file's mode, so creating it 0600 covers them; files from an
 * older gateway are narrowed too.
 */
function private0600(path: string): void {
  if (path === ":memory:" || path === "") return;
  const file = Deno.openSync(path, { create: true, write: true, mode: 0o600 });
  file.close();
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((Deno.statSync(p).mode! & 0o077) !== 0) Deno.chmodSync(p, 0o600);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

// FULL: in WAL mode NORMAL already survives a process crash, but a power loss or kernel panic
// can lose the last commits, and a receipt may be all that shows what an agent did. FULL adds
// one fsync of the WAL per commit, that is one per batch, and batches grow under load, so the
// cost per receipt falls as the rate rises; it is paid on the writer's thread, not the event
// loop's. NORMAL remains an option for disks where fsync is slow.
function setSynchronous(db: DatabaseSync, level: "full" | "normal"): void {
  db.exec(`PRAGMA synchronous = ${level === "normal" ? "NORMAL" : "FULL"}`);
}

/**
 * The writing end: handles {@linkcode ToWriter} messages and answers with {@linkcode FromWriter}
 * through `post`. A message it does not know throws, which kills a worker and makes the store
 * fail closed: a confused writer must not go on appending to the chain.
 */
export class ReceiptWriter {
  readonly #post: (message: FromWriter) => void;
  #config: WriterConfig | undefined;
  #db: DatabaseSync | undefined;
  #insert: StatementSync | undefined;
  #insertRows: StatementSync | undefined;
  #head: StatementSync | undefined;
  #insertOutcome: StatementSync | undefined;
  #outcomeHead: StatementSync | undefined;
  #queue: QueuedRow[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** A commit is due as soon as the messages already here are handled (`#schedule(0)`). */
  #soon = false;
  #failures = 0;
  /** When the last commit started (performance.now()); the next waits out the interval. */
  #lastCommit = -Infinity;
  #retry = true;
  #closed = false;

  constructor(post: (message: FromWriter) => void) {
    this.#post = post;
  }

  /** Acts on one message from the store. */
  handle(message: ToWriter): void {
    switch (message.type) {
      case "open":
        this.#config = message.config;
        try {
          this.#open();
        } catch (error) {
          // Not fatal: the next commit opens again. The store reports it and its ready() rejects.
          this.#post({ type: "openFailed", error: errorMessage(error) });
          return;
        }
        this.#post({ type: "opened" });
        return;
      case "rows": {
        if (this.#closed) throw new Error("Receipt writer received rows after close");
        for (const row of message.rows) this.#queue.push(row);
        // An urgent batch commits now unless a failure's backoff is running: retrying a full
        // disk faster helps nobody, and the store denies meanwhile.
        if (message.urgent && this.#failures === 0) this.#schedule(0);
        else if (this.#timer === undefined && !this.#soon) {
          this.#schedule(this.#untilNextCommit());
        }
        return;
      }
      case "flush":
        this.#retry = message.retry;
        if (!this.#closed) this.#schedule(0);
        return;
      case "prune":
        this.#prune(message);
        return;
      case "close":
        this.#closed = true;
        clearTimeout(this.#timer);
        this.#timer = undefined;
        if (this.#db?.isOpen) this.#db.close();
        this.#post({ type: "closed" });
        return;
      default:
        throw new TypeError(
          `Unknown receipt writer message '${(message as { type?: unknown }).type}'`,
        );
    }
  }

  // Only the connection and its statements: the store's thread already set WAL and migrated, and
  // taking the write lock here would make a busy database fail the writer's start.
  #open(): void {
    const config = this.#config!;
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(config.path, { timeout: config.busyTimeoutMs });
      setSynchronous(db, config.synchronous);
      this.#insert = db.prepare(INSERT_SQL);
      this.#insertRows = db.prepare(INSERT_ROWS_SQL);
      this.#head = db.prepare("SELECT seq, hash FROM receipts ORDER BY seq DESC LIMIT 1");
      this.#insertOutcome = db.prepare(INSERT_OUTCOME_SQL);
      this.#outcomeHead = db.prepare("SELECT seq, hash FROM outcomes ORDER BY seq DESC LIMIT 1");
      this.#db = db;
    } catch (error) {
      if (db?.isOpen) db.close();
      throw new Error(`Cannot open receipts database '${config.path}': ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  #prune({ id, cutoff, batch }: { id: number; cutoff: string; batch: number }): void {
    try {
      if (this.#closed) throw new Error("the receipt writer is closed");
      if (this.#db === undefined) this.#open();
      this.#post({ type: "pruned", id, ...pruneIn(this.#db!, new Date(cutoff), batch) });
    } catch (error) {
      this.#post({ type: "pruneFailed", id, error: errorMessage(error) });
    }
  }

  // Group commit: under a steady stream one transaction (one fsync, one set of WAL pages) covers
  // every row of an interval, instead of one per timer tick; an idle writer commits at once.
  #untilNextCommit(): number {
    const wait = this.#lastCommit + this.#config!.commitIntervalMs - performance.now();
    return wait > 0 ? wait : 0;
  }

  // "Now" is `setImmediate`, not a zero timer: Deno runs a 0 ms timer ~2 ms later (2.2 ms p50
  // here, idle), which was most of a durable write's wait for its commit (~0.25 ms). An
  // immediate runs once the event loop has taken in what already arrived, so messages that came
  // during a commit still share the next one.
  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (delayMs <= 0) {
      if (this.#soon) return;
      this.#soon = true;
      setImmediate(() => {
        this.#soon = false;
        this.#flush();
      });
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, delayMs);
  }

  #flush(): void {
    if (this.#queue.length === 0 || this.#closed) return;
    const batch = this.#queue.slice(0, this.#config!.maxBatch);
    const started = performance.now();
    this.#lastCommit = started;
    try {
      if (this.#db === undefined) this.#open();
      this.#commit(batch);
    } catch (error) {
      this.#failures++;
      if (this.#retry) {
        this.#schedule(Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.#failures - 1)));
      }
      this.#post({ type: "failed", rows: batch.length, error: errorMessage(error) });
      return;
    }
    this.#queue.splice(0, batch.length);
    this.#failures = 0;
    // A full batch means a backlog: drain it without waiting out the interval.
    if (this.#queue.length > 0) {
      this.#schedule(batch.length === this.#config!.maxBatch ? 0 : this.#untilNextCommit());
    }
    this.#post({ type: "committed", rows: batch.length, durationMs: performance.now() - started });
  }

  // The chain head is read inside the write transaction (BEGIN IMMEDIATE holds the write lock),
  // so seq and prev_hash are right even after a restart or if another process appended rows.
  // Hashing happens here rather than in record() because seq and prev_hash only exist here.
  #commit(batch: QueuedRow[]): void {
    const db = this.#db!;
    // A transaction left open by a failed ROLLBACK would make every BEGIN fail; end it first.
    if (db.isTransaction) db.exec("ROLLBACK");
    db.exec("BEGIN IMMEDIATE");
    try {
      const head = this.#head!.get() as { seq: number; hash: string } | undefined;
      let seq = head?.seq ?? 0;
      let prevHash = head?.hash ?? GENESIS_HASH;
      let outcomes: { seq: number; hash: string } | undefined;
      // Values of receipts not inserted yet: inserted ROWS_PER_INSERT at a time, the rest one
      // by one at the end. Outcomes are another table and chain, so the order between the two
      // tables does not matter inside the transaction.
      const values: (string | number)[] = [];
      let rows = 0;
      let left = batch.length;
      for (const pending of batch) {
        left--;
        if (isOutcome(pending)) {
          outcomes ??= this.#outcomeHead!.get() as { seq: number; hash: string } | undefined ??
            { seq: 0, hash: GENESIS_HASH };
          const o = {
            ...pending,
            seq: outcomes.seq + 1,
            prev_hash: outcomes.hash,
          } as StoredOutcome;
          o.hash = outcomeHash(o);
          this.#insertOutcome!.run(...outcomeValues(o));
          outcomes = o;
          continue;
        }
        const text = chainedText(pending, ++seq, prevHash);
        prevHash = chainHash(prevHash, text);
        // Too few left to fill a statement: one by one from the start.
        if (rows === 0 && left < ROWS_PER_INSERT - 1) {
          this.#insert!.run(seq, pending.id, text, prevHash);
          continue;
        }
        values.push(seq, pending.id, text, prevHash);
        if (++rows === ROWS_PER_INSERT) {
          this.#insertRows!.run(...values);
          values.length = 0;
          rows = 0;
        }
      }
      for (let at = 0; at < values.length; at += 4) {
        this.#insert!.run(values[at], values[at + 1], values[at + 2], values[at + 3]);
      }
      db.exec("COMMIT");
    } catch (error) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // The commit error is the one worth reporting; the next attempt retries the rollback.
      }
      throw error;
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
