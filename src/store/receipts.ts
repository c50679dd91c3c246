/**
 * Receipts in the shared store: each gateway's hash chain copied in order into one table, keyed
 * by the gateway's id. The local database stays the record an action waits for (durability by
 * risk and fail-closed are unchanged, and a store outage never blocks a decision); the copy
 * follows within `pollMs`, resumes where the store's copy ends after an outage or a restart, and
 * carries the canonical text each hash covers, so `store verify` checks every chain from the
 * store alone and `store log` reads every gateway's receipts in one place.
 *
 * @module
 */

import {
  canonicalRow,
  receiptOfRow,
  rowHash,
  rowOfCanonical,
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
      while (true) {
        const rows = storedRowsAfter(this.#path, this.#cursor, BATCH);
        if (rows.length === 0) return;
        await this.#insert(rows);
        this.#cursor = rows[rows.length - 1].seq;
        if (rows.length < BATCH) return;
      }
    } catch (err) {
      this.#cursor = null;
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async #storedUpTo(): Promise<number> {
    const [{ seq }] = await this.#sql`SELECT coalesce(max(seq), 0)::int AS seq
      FROM clawpatrol_receipts WHERE gateway = ${this.#gateway}`;
    return seq;
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
  /** The newest this many. @default {50} */
  limit?: number;
}

/** A receipt read from the store, and the gateway that decided it. */
export interface GatewayReceipt {
  gateway: string;
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
  const rows = await sql`SELECT gateway, canonical, hash FROM clawpatrol_receipts
    WHERE true
      ${filter.gateway === undefined ? sql`` : sql`AND gateway = ${filter.gateway}`}
      ${filter.agent === undefined ? sql`` : sql`AND agent = ${filter.agent}`}
      ${filter.verdict === undefined ? sql`` : sql`AND verdict = ${filter.verdict}`}
    ORDER BY time DESC, gateway, seq DESC LIMIT ${filter.limit ?? 50}`;
  return rows.reverse().map((r) => ({
    gateway: r.gateway,
    receipt: receiptOfRow(rowOfCanonical(r.canonical, r.hash)),
  }));
}

/** One gateway's chain as {@linkcode verifyStoreChains} found it. */
export interface StoreChainVerification {
  gateway: string;
  rows: number;
  /** The first seq in the store (above 1 when older receipts were pruned before the copy). */
  from: number;
  /** The first problem, or `null` when every row checks. */
  problem: string | null;
}

/**
 * Recomputes every gateway's chain from the store: each hash over its canonical text, each
 * `prev_hash` against the row before, no seq missing, and the indexed columns agreeing with the
 * text they were taken from.
 *
 * @example
 * ```ts
 * const chains = await verifyStoreChains(sql);
 * const broken = chains.filter((c) => c.problem !== null);
 * ```
 */
export async function verifyStoreChains(sql: Sql): Promise<StoreChainVerification[]> {
  const gateways = await sql`SELECT DISTINCT gateway FROM clawpatrol_receipts ORDER BY gateway`;
  const results: StoreChainVerification[] = [];
  for (const { gateway } of gateways) {
    let previous: { seq: number; hash: string } | null = null;
    let rows = 0;
    let from = 0;
    let problem: string | null = null;
    let after = 0;
    while (problem === null) {
      const batch = await sql`SELECT seq::int AS seq, id, agent, verdict, prev_hash, hash,
          canonical FROM clawpatrol_receipts
        WHERE gateway = ${gateway} AND seq > ${after} ORDER BY seq LIMIT 1000`;
      if (batch.length === 0) break;
      for (const r of batch) {
        problem = checkRow(r, previous);
        if (problem !== null) break;
        if (previous === null) from = r.seq;
        previous = { seq: r.seq, hash: r.hash };
        rows++;
      }
      after = batch[batch.length - 1].seq;
    }
    results.push({ gateway, rows, from, problem });
  }
  return results;
}

function checkRow(
  r: Record<string, unknown>,
  previous: { seq: number; hash: string } | null,
): string | null {
  const seq = r.seq as number;
  let row: StoredRow;
  try {
    row = rowOfCanonical(r.canonical as string, r.hash as string);
  } catch {
    return `seq ${seq}: its canonical text is not JSON (edited)`;
  }
  if (previous !== null && seq !== previous.seq + 1) {
    return `seq ${previous.seq + 1} to ${seq - 1} missing (deleted)`;
  }
  if (previous !== null && r.prev_hash !== previous.hash) {
    return `seq ${seq}: prev_hash does not match the hash of seq ${previous.seq}`;
  }
  if (row.seq !== seq || row.id !== r.id || row.agent !== r.agent || row.verdict !== r.verdict) {
    return `seq ${seq}: its columns disagree with its canonical text (edited)`;
  }
  if (row.prev_hash !== r.prev_hash || rowHash(row) !== r.hash) {
    return `seq ${seq}: hash does not match its content (edited)`;
  }
  return null;
}
