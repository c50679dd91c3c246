/**
 * One local hash chain (receipts or outcomes) copied in order into its store table under the
 * gateway's id: where the store's copy ends (its cursor), where it is cut (retention), and the
 * local rows past the cursor. Retention follows the local chain: once `receipts.keep` pruned it,
 * the copy drops the same rows and keeps the local checkpoint as its cut, in one transaction, so
 * the store never holds a chain that starts nowhere.
 *
 * @module
 */

import type { Checkpoint } from "../audit/mod.ts";
import type { Sql } from "./_connect.ts";

/** Which chain, and its table in the store. */
export type Chain = "receipts" | "outcomes";

const TABLES: Record<Chain, string> = {
  receipts: "clawpatrol_receipts",
  outcomes: "clawpatrol_outcomes",
};

/** The local side of a chain. */
export interface LocalChain<R extends { seq: number }> {
  /** Up to `limit` committed rows after `seq`, in order. */
  after(seq: number, limit: number): R[];
  /** Where the local chain starts after pruning, or `null`. */
  checkpoint(): Checkpoint | null;
  /** The store's rows for `rows` (its columns, the gateway's among them). */
  values(rows: R[]): Record<string, unknown>[];
}

/** Copies one chain; not safe to run twice at once (its mirror runs one round at a time). */
export class ChainCopy<R extends { seq: number }> {
  readonly #sql: Sql;
  readonly #gateway: string;
  readonly #chain: Chain;
  readonly #local: LocalChain<R>;
  /** The store's last seq for this chain; `null`: read it again (at start, after a failure). */
  #cursor: number | null = null;
  /** The seq the store's copy is cut at (0: nothing pruned). */
  #cut = 0;

  constructor(sql: Sql, gateway: string, chain: Chain, local: LocalChain<R>) {
    this.#sql = sql;
    this.#gateway = gateway;
    this.#chain = chain;
    this.#local = local;
  }

  /** Reads the store's position when it is not known, then follows a local prune. */
  async ready(): Promise<void> {
    if (this.#cursor === null) {
      const table = this.#sql(TABLES[this.#chain]);
      const [{ seq, cut }] = await this.#sql`SELECT
          coalesce((SELECT max(seq) FROM ${table} WHERE gateway = ${this.#gateway}), 0)::int
            AS seq,
          coalesce((SELECT seq FROM clawpatrol_receipt_cuts
            WHERE gateway = ${this.#gateway} AND chain = ${this.#chain}), 0)::int AS cut`;
      this.#cut = cut;
      this.#cursor = Math.max(seq, cut);
    }
    await this.#follow(this.#local.checkpoint());
  }

  /** Forgets the store's position (a round failed: what was written is read again). */
  reset(): void {
    this.#cursor = null;
  }

  /**
   * The next local rows past the store's copy (up to `limit`), past the cut: rows pruned locally
   * before they were copied move the cut to where the local chain now starts.
   */
  async next(limit: number): Promise<{ rows: R[]; full: boolean }> {
    const cursor = this.#position();
    let rows = this.#local.after(cursor, limit);
    const full = rows.length === limit;
    if (rows.length > 0 && rows[0].seq !== cursor + 1) {
      await this.#follow(this.#local.checkpoint());
      rows = rows.filter((r) => r.seq > this.#cut);
    }
    return { rows, full };
  }

  /** Writes `rows` (from {@linkcode next}) and moves the cursor past them. */
  async write(rows: R[]): Promise<void> {
    if (rows.length === 0) return;
    // A copy made before a crash may overlap: the rows are the same, so skipping them is right.
    await this.#sql`INSERT INTO ${this.#sql(TABLES[this.#chain])}
      ${this.#sql(this.#local.values(rows))} ON CONFLICT (gateway, seq) DO NOTHING`;
    this.#cursor = rows[rows.length - 1].seq;
  }

  /** Copies everything committed locally now. */
  async all(limit: number): Promise<void> {
    while (true) {
      const { rows, full } = await this.next(limit);
      await this.write(rows);
      if (!full) return;
    }
  }

  #position(): number {
    if (this.#cursor === null) throw new Error(`The ${this.#chain} copy is not ready`);
    return this.#cursor;
  }

  async #follow(checkpoint: Checkpoint | null): Promise<void> {
    if (checkpoint === null || checkpoint.seq <= this.#cut) return;
    const { seq, hash } = checkpoint;
    const table = this.#sql(TABLES[this.#chain]);
    await this.#sql.begin(async (tx) => {
      await tx`INSERT INTO clawpatrol_receipt_cuts (gateway, chain, seq, hash)
        VALUES (${this.#gateway}, ${this.#chain}, ${seq}, ${hash})
        ON CONFLICT (gateway, chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
        WHERE clawpatrol_receipt_cuts.seq < excluded.seq`;
      await tx`DELETE FROM ${table} WHERE gateway = ${this.#gateway} AND seq <= ${seq}`;
    });
    this.#cut = seq;
    this.#cursor = Math.max(this.#position(), seq);
  }
}
