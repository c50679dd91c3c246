/**
 * Receipts in the shared store: each gateway's hash chains (receipts, and the outcomes of actions
 * whose receipts were written ahead) copied in order into one table each, keyed by the gateway's
 * id. The local database stays the record an action waits for (durability by risk and fail-closed
 * are unchanged, and a store outage never blocks a decision); the copy follows within `pollMs`,
 * resumes where the store's copy ends after an outage or a restart, and carries the canonical text
 * each hash covers, so `store verify` checks every chain from the store alone and `store log`
 * reads every gateway's receipts in one place. Retention follows the local chains (see
 * `_chain_copy.ts`).
 *
 * @module
 */

import {
  canonicalOutcome,
  outcomeOfCanonical,
  receiptOfRow,
  storedCheckpoint,
  type StoredOutcome,
  storedOutcomesAfter,
  type StoredReceipt,
  storedRowsAfter,
} from "../audit/mod.ts";
import type { Receipt } from "../core/mod.ts";
import { settledWithin, type Sql } from "./_connect.ts";
import { ChainCopy } from "./_chain_copy.ts";

const BATCH = 500;

/** Options for {@linkcode ReceiptMirror}. */
export interface ReceiptMirrorOptions {
  /** How often new local receipts are looked for. @default {1_000} */
  pollMs?: number;
  /** Told about a failed round (retried at the next). */
  onError?: (error: Error) => void;
}

/** Copies one gateway's committed receipts and outcomes into the store, in chain order. */
export class ReceiptMirror {
  readonly #pollMs: number;
  readonly #onError: (error: Error) => void;
  readonly #receipts: ChainCopy<StoredReceipt>;
  readonly #outcomes: ChainCopy<StoredOutcome>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;

  /** `path`: the gateway's local receipts database. */
  constructor(sql: Sql, gateway: string, path: string, options: ReceiptMirrorOptions = {}) {
    this.#pollMs = options.pollMs ?? 1_000;
    this.#onError = options.onError ?? (() => {});
    this.#receipts = new ChainCopy<StoredReceipt>(sql, gateway, "receipts", {
      after: (seq, limit) => storedRowsAfter(path, seq, limit),
      checkpoint: () => storedCheckpoint(path, "receipts"),
      values: (rows) =>
        rows.map((r) => ({
          gateway,
          seq: r.seq,
          id: r.id,
          time: r.time,
          agent: r.agent,
          verdict: r.verdict,
          prev_hash: r.prev_hash,
          hash: r.hash,
          canonical: r.canonical,
        })),
    });
    this.#outcomes = new ChainCopy<StoredOutcome>(sql, gateway, "outcomes", {
      after: (seq, limit) => storedOutcomesAfter(path, seq, limit),
      checkpoint: () => storedCheckpoint(path, "outcomes"),
      values: (rows) =>
        rows.map((o) => ({
          gateway,
          seq: o.seq,
          receipt: o.receipt,
          prev_hash: o.prev_hash,
          hash: o.hash,
          canonical: canonicalOutcome(o),
        })),
    });
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
      await this.#receipts.ready();
      await this.#outcomes.ready();
      while (true) {
        // Outcomes read before the receipts are copied: each names a receipt committed before
        // it, so the store never holds an outcome whose receipt it lacks.
        const outcomes = await this.#outcomes.next(BATCH);
        await this.#receipts.all(BATCH);
        await this.#outcomes.write(outcomes.rows);
        if (!outcomes.full) return;
      }
    } catch (err) {
      this.#receipts.reset();
      this.#outcomes.reset();
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    }
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
  const rows = await sql`SELECT r.gateway, r.seq::int AS seq, r.id, r.canonical, r.hash,
      o.canonical AS o_canonical, o.hash AS o_hash
    FROM clawpatrol_receipts r
    LEFT JOIN clawpatrol_outcomes o ON o.gateway = r.gateway AND o.receipt = r.id
    WHERE true
      ${filter.gateway === undefined ? sql`` : sql`AND r.gateway = ${filter.gateway}`}
      ${filter.agent === undefined ? sql`` : sql`AND r.agent = ${filter.agent}`}
      ${filter.verdict === undefined ? sql`` : sql`AND r.verdict = ${filter.verdict}`}
      ${filter.since === undefined ? sql`` : sql`AND r.time >= ${filter.since}`}
      ${
    after === undefined
      ? sql``
      : sql`AND r.seq > coalesce((${JSON.stringify(after)}::jsonb ->> r.gateway)::bigint, 0)`
  }
    ORDER BY ${
    after === undefined ? sql`r.time DESC, r.gateway, r.seq DESC` : sql`r.gateway, r.seq`
  }
    ${limit === null ? sql`` : sql`LIMIT ${limit}`}`;
  const found = rows.map((r) => ({
    gateway: r.gateway as string,
    seq: r.seq as number,
    receipt: receiptOfRow(
      { seq: r.seq, id: r.id, canonical: r.canonical, hash: r.hash },
      r.o_canonical === null ? null : outcomeOfCanonical(r.o_canonical, r.o_hash),
    ),
  }));
  if (after === undefined) return found.reverse();
  // Paged by each chain's order (a page holds a prefix of every chain past its position, so
  // nothing is skipped), shown by time.
  return found.sort((a, b) => a.receipt.time.getTime() - b.receipt.time.getTime());
}

export { type StoreChainVerification, verifyStoreChains } from "./_receipt_verify.ts";
