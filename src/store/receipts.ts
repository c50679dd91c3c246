/**
 * Receipts in the shared store: each gateway's hash chain copied in order into one table, keyed
 * by the gateway's id. The local database stays the record an action waits for (durability by
 * risk and fail-closed are unchanged, and a store outage never blocks a decision); the copy
 * follows within `pollMs`, resumes where the store's copy ends after an outage or a restart, and
 * carries the canonical text each hash covers, so `store verify` checks every chain from the
 * store alone and `store log` reads every gateway's receipts in one place. Retention follows the
 * local chain: once `receipts.keep` pruned it, the copy drops the same receipts and keeps the
 * local checkpoint as its cut, where verification starts.
 *
 * @module
 */

import {
  canonicalRow,
  type Checkpoint,
  receiptOfRow,
  rowOfCanonical,
  storedCheckpoint,
  type StoredRow,
  storedRowsAfter,
} from "../audit/mod.ts";
import type { Receipt } from "../core/mod.ts";
import { settledWithin, type Sql } from "./_connect.ts";

const BATCH = 500;

/** Options for {@linkcode ReceiptMirror}. */
export interface ReceiptMirrorOptions {
  /** How often new local receipts are looked for. @default {1_000} */
  pollMs?: number;
  /** Told about a failed round (retried at the next). */
  onError?: (error: Error) => void;
}

/** Copies one gateway's committed receipts into the store, in chain order. */
export class ReceiptMirror {
  readonly #sql: Sql;
  readonly #gateway: string;
  readonly #path: string;
  readonly #pollMs: number;
  readonly #onError: (error: Error) => void;
  /** The store's last seq for this gateway; read again after a failure. */
  #cursor: number | null = null;
  /** The seq the store's copy is cut at (0: nothing pruned); read with the cursor. */
  #cut = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;

  /** `path`: the gateway's local receipts database. */
  constructor(sql: Sql, gateway: string, path: string, options: ReceiptMirrorOptions = {}) {
    this.#sql = sql;
    this.#gateway = gateway;
    this.#path = path;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Starts copying (a first round at once). */
  start(): void {
    this.#tick(0);
  }

  /** Copies what is committed locally now (a round running is joined). */
  round(): Promise<void> {
    this.#running ??= this.#round().finally(() => this.#running = null);
    return this.#running;
  }

  /** One last round (bounded: a hung store must not hold the gateway's stop), then no more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await settledWithin(this.#running ?? Promise.resolve(), 2_000);
    await settledWithin(this.round(), 2_000);
  }

  #tick(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.round().finally(() => this.#tick(this.#pollMs));
    }, delayMs);
    Deno.unrefTimer(this.#timer);
  }

  async #round(): Promise<void> {
    try {
      this.#cursor ??= await this.#storedUpTo();
      await this.#follow(storedCheckpoint(this.#path));
      while (true) {
        let rows = storedRowsAfter(this.#path, this.#cursor, BATCH);
        if (rows.length === 0) return;
        const full = rows.length === BATCH;
        if (rows[0].seq !== this.#cursor + 1) {
          // Pruned locally before it was copied: the copy is cut where the local chain now starts.
          await this.#follow(storedCheckpoint(this.#path));
          rows = rows.filter((r) => r.seq > this.#cut);
        }
        if (rows.length > 0) {
          await this.#insert(rows);
          this.#cursor = rows[rows.length - 1].seq;
        }
        if (!full) return;
      }
    } catch (err) {
      this.#cursor = null;
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async #storedUpTo(): Promise<number> {
    const [{ seq, cut }] = await this.#sql`SELECT
        coalesce((SELECT max(seq) FROM clawpatrol_receipts WHERE gateway = ${this.#gateway}),
          0)::int AS seq,
        coalesce((SELECT seq FROM clawpatrol_receipt_cuts WHERE gateway = ${this.#gateway}),
          0)::int AS cut`;
    this.#cut = cut;
    return Math.max(seq, cut);
  }

  /**
   * Moves the copy's cut to the local checkpoint, removing the receipts before it in the same
   * transaction: the store never holds a chain that starts nowhere.
   */
  async #follow(checkpoint: Checkpoint | null): Promise<void> {
    if (checkpoint === null || checkpoint.seq <= this.#cut) return;
    const { seq, hash } = checkpoint;
    await this.#sql.begin(async (tx) => {
      await tx`INSERT INTO clawpatrol_receipt_cuts (gateway, seq, hash)
        VALUES (${this.#gateway}, ${seq}, ${hash})
        ON CONFLICT (gateway) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
        WHERE clawpatrol_receipt_cuts.seq < excluded.seq`;
      await tx`DELETE FROM clawpatrol_receipts WHERE gateway = ${this.#gateway} AND seq <= ${seq}`;
    });
    this.#cut = seq;
    this.#cursor = Math.max(this.#cursor ?? 0, seq);
  }

  async #insert(rows: StoredRow[]): Promise<void> {
    const values = rows.map((r) => ({
      gateway: this.#gateway,
      seq: r.seq,
      id: r.id,
      time: r.time,
      agent: r.agent,
      verdict: r.verdict,
      prev_hash: r.prev_hash,
      hash: r.hash,
      canonical: canonicalRow(r),
    }));
    // A copy made before a crash may overlap: the rows are the same, so skipping them is right.
    await this.#sql`INSERT INTO clawpatrol_receipts ${this.#sql(values)}
      ON CONFLICT (gateway, seq) DO NOTHING`;
  }
}

/** Which receipts {@linkcode storeReceipts} returns. */
export interface StoreReceiptFilter {
  gateway?: string;
  agent?: string;
  verdict?: "allow" | "deny";
  /** Only receipts whose action time is at or after this instant. */
  since?: Date;
  /**
   * Only receipts past these positions, per gateway id (a gateway not named: all of its), each
   * chain in order from there (what `log --follow` pages with).
   */
  after?: Record<string, number>;
  /** The newest this many (with `after`: the oldest); `null`: all of them. @default {50} */
  limit?: number | null;
}

/** A receipt read from the store, the gateway that decided it, and its place in that chain. */
export interface GatewayReceipt {
  gateway: string;
  seq: number;
  receipt: Receipt;
}

/**
 * Receipts of every gateway (or one), oldest first.
 *
 * @example
 * ```ts
 * for (const { gateway, receipt } of await storeReceipts(sql, { limit: 20 })) console.log(gateway, receipt.id);
 * ```
 */
export async function storeReceipts(
  sql: Sql,
  filter: StoreReceiptFilter = {},
): Promise<GatewayReceipt[]> {
  const { after } = filter;
  const limit = filter.limit === undefined ? 50 : filter.limit;
  const rows = await sql`SELECT gateway, seq::int AS seq, canonical, hash FROM clawpatrol_receipts
    WHERE true
      ${filter.gateway === undefined ? sql`` : sql`AND gateway = ${filter.gateway}`}
      ${filter.agent === undefined ? sql`` : sql`AND agent = ${filter.agent}`}
      ${filter.verdict === undefined ? sql`` : sql`AND verdict = ${filter.verdict}`}
      ${filter.since === undefined ? sql`` : sql`AND time >= ${filter.since}`}
      ${
    after === undefined
      ? sql``
      : sql`AND seq > coalesce((${JSON.stringify(after)}::jsonb ->> gateway)::bigint, 0)`
  }
    ORDER BY ${after === undefined ? sql`time DESC, gateway, seq DESC` : sql`gateway, seq`}
    ${limit === null ? sql`` : sql`LIMIT ${limit}`}`;
  const found = rows.map((r) => ({
    gateway: r.gateway as string,
    seq: r.seq as number,
    receipt: receiptOfRow(rowOfCanonical(r.canonical, r.hash)),
  }));
  if (after === undefined) return found.reverse();
  // Paged by each chain's order (a page holds a prefix of every chain past its position, so
  // nothing is skipped), shown by time.
  return found.sort((a, b) => a.receipt.time.getTime() - b.receipt.time.getTime());
}

export { type StoreChainVerification, verifyStoreChains } from "./_receipt_verify.ts";
