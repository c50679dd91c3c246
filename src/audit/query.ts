/**
 * Reading receipts back: `clawpatrol log`, `log --follow` and the admin API.
 *
 * @module
 */

import type { SQLInputValue } from "node:sqlite";
import type { Decision, Receipt } from "../core/mod.ts";
import { hasOutcomes, openReadOnly } from "./_schema.ts";
import { type ChainRow, toReceipt } from "./_chain_text.ts";
import type { ReceiptStore } from "./store.ts";

/** Which receipts {@linkcode queryReceipts} returns. Every field narrows; none means all. */
export interface ReceiptFilter {
  /** Only receipts with this final verdict. */
  verdict?: Decision;
  /** Only receipts of this agent. */
  agent?: string;
  /** Only receipts whose action time is at or after this instant. */
  since?: Date;
  /** Only receipts with `seq` greater than this; `log --follow` passes the last seq it printed. */
  afterSeq?: number;
  /** Only the receipt with this public id. */
  id?: string;
  /**
   * At most this many receipts: the oldest matches after `afterSeq` when it is given (paging
   * forward), otherwise the newest matches.
   */
  limit?: number;
}

/**
 * Returns committed receipts matching `filter`, oldest first (ascending `seq`). Opens its own
 * read-only connection, so it works while a gateway is writing; receipts still queued in a
 * store are not visible until committed.
 *
 * @example
 * ```ts
 * const denied = queryReceipts("./state/receipts.db", { verdict: "deny", limit: 20 });
 * let last = denied.at(-1)?.seq ?? 0;
 * const next = queryReceipts(store, { afterSeq: last, limit: 500 }); // log --follow
 * ```
 */
export function queryReceipts(
  source: ReceiptStore | string,
  filter: ReceiptFilter = {},
): Receipt[] {
  const where: string[] = [];
  const params: SQLInputValue[] = [];
  if (filter.verdict !== undefined) {
    where.push("canonical ->> '$.verdict' = ?");
    params.push(filter.verdict);
  }
  if (filter.agent !== undefined) {
    where.push("canonical ->> '$.agent' = ?");
    params.push(filter.agent);
  }
  if (filter.id !== undefined) {
    where.push("id = ?");
    params.push(filter.id);
  }
  if (filter.since !== undefined) {
    if (Number.isNaN(filter.since.getTime())) {
      throw new RangeError(`Invalid receipt filter since '${filter.since}': expected a valid date`);
    }
    // Times are stored as toISOString() output, which sorts as text in time order.
    where.push("canonical ->> '$.time' >= ?");
    params.push(filter.since.toISOString());
  }
  if (filter.afterSeq !== undefined) {
    checkInteger("afterSeq", filter.afterSeq, 0);
    where.push("seq > ?");
    params.push(filter.afterSeq);
  }
  if (filter.limit !== undefined) checkInteger("limit", filter.limit, 1);

  const conditions = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  let sql = `SELECT seq, id, canonical, hash FROM receipts ${conditions} ORDER BY seq`;
  if (filter.limit !== undefined) {
    params.push(filter.limit);
    sql = filter.afterSeq !== undefined
      ? `${sql} LIMIT ?`
      : `SELECT * FROM (SELECT seq, id, canonical, hash FROM receipts ${conditions} ` +
        "ORDER BY seq DESC LIMIT ?) ORDER BY seq";
  }

  const db = openReadOnly(typeof source === "string" ? source : source.path);
  try {
    // Each receipt written ahead with its outcome, if one was written.
    if (hasOutcomes(db)) sql = `SELECT r.*, ${OUTCOME_COLUMNS} FROM (${sql}) r${OUTCOME_JOIN}`;
    const rows = db.prepare(sql).all(...params) as unknown as ChainRow[];
    return rows.map(toReceipt);
  } finally {
    db.close();
  }
}

const OUTCOME_COLUMNS = ["time", "upstream_status", "bytes_in", "bytes_out", "latency_ms", "error"]
  .concat("not_run").map((c) => `o.${c} AS o_${c}`).join(", ");
// Ordered again after the join: SQLite keeps the subquery's order in practice, not by promise.
const OUTCOME_JOIN = " LEFT JOIN outcomes o ON o.receipt = r.id ORDER BY r.seq";

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Invalid receipt filter ${name} '${value}': expected an integer >= ${min}`,
    );
  }
}
