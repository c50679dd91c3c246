/**
 * Verifying every gateway's chains from the store alone. Receipts: each hash over its canonical
 * text, each `prev_hash` against the row before, no seq missing, the indexed columns agreeing with
 * the text. Outcomes: the same over their own chain, and each names a receipt of that gateway that
 * was written ahead (unless that receipt was pruned). A chain whose older rows were pruned starts
 * exactly after its cut (the last removed row's seq and hash, as the gateway's local checkpoint
 * keeps them); without a cut it starts at seq 1 on the genesis hash.
 *
 * @module
 */

import {
  chainHash,
  outcomeHash,
  outcomeOfCanonical,
  type ReceiptFields,
  receiptFields,
  type StoredOutcome,
} from "../audit/mod.ts";
import type { Sql } from "./_connect.ts";
import type { Chain } from "./_chain_copy.ts";

/** `prev_hash` of a chain's first row (as `src/audit` writes it). */
const GENESIS_HASH = "0".repeat(64);

const BATCH = 1000;

/** One gateway's chains as {@linkcode verifyStoreChains} found them. */
export interface StoreChainVerification {
  gateway: string;
  /** Receipts that verified (before the first problem, if any). */
  rows: number;
  /** Outcomes that verified. */
  outcomes: number;
  /** The first receipt seq the chain holds: above 1 when older ones were pruned (`receipts.keep`). */
  from: number;
  /** The first problem (an outcome's starts with "outcome"), or `null` when every row checks. */
  problem: string | null;
}

type Link = { seq: number; hash: string };

/**
 * Recomputes every gateway's chains from the store, oldest first, a batch at a time.
 *
 * @example
 * ```ts
 * const chains = await verifyStoreChains(sql);
 * const broken = chains.filter((c) => c.problem !== null);
 * ```
 */
export async function verifyStoreChains(sql: Sql): Promise<StoreChainVerification[]> {
  const gateways = await sql`SELECT gateway FROM clawpatrol_receipts
    UNION SELECT gateway FROM clawpatrol_outcomes
    UNION SELECT gateway FROM clawpatrol_receipt_cuts ORDER BY gateway`;
  const results: StoreChainVerification[] = [];
  for (const { gateway } of gateways) {
    const cuts = new Map<Chain, Link>();
    for (
      const c of await sql`SELECT chain, seq::int AS seq, hash FROM clawpatrol_receipt_cuts
        WHERE gateway = ${gateway}`
    ) cuts.set(c.chain, { seq: c.seq, hash: c.hash });
    const receipts = await walk(sql, gateway, "receipts", cuts.get("receipts"), checkReceipt);
    const outcomes = receipts.problem === null
      ? await walk(sql, gateway, "outcomes", cuts.get("outcomes"), outcomeChecker(sql, cuts))
      : { rows: 0, problem: null };
    results.push({
      gateway,
      rows: receipts.rows,
      outcomes: outcomes.rows,
      from: (cuts.get("receipts")?.seq ?? 0) + 1,
      problem: receipts.problem ??
        (outcomes.problem === null ? null : `outcome ${outcomes.problem}`),
    });
  }
  return results;
}

/** Checks one batch row against the row before; a problem or `null`. */
type Check = (
  batch: Record<string, unknown>[],
) => Promise<(r: Record<string, unknown>, previous: Link, afterCut: boolean) => string | null>;

async function walk(
  sql: Sql,
  gateway: string,
  chain: Chain,
  cut: Link | undefined,
  check: Check,
): Promise<{ rows: number; problem: string | null }> {
  const table = sql(chain === "receipts" ? "clawpatrol_receipts" : "clawpatrol_outcomes");
  let previous: Link = cut ?? { seq: 0, hash: GENESIS_HASH };
  let rows = 0;
  while (true) {
    const columns = chain === "receipts" ? sql`id, agent, verdict` : sql`receipt`;
    const batch = await sql`SELECT gateway, seq::int AS seq, prev_hash, hash, canonical, ${columns}
      FROM ${table}
      WHERE gateway = ${gateway} AND seq > ${previous.seq} ORDER BY seq LIMIT ${BATCH}`;
    if (batch.length === 0) return { rows, problem: null };
    const checkRow = await check(batch);
    for (const r of batch) {
      const problem = linked(r, previous, cut !== undefined && rows === 0) ??
        checkRow(r, previous, cut !== undefined && rows === 0);
      if (problem !== null) return { rows, problem };
      previous = { seq: r.seq as number, hash: r.hash as string };
      rows++;
    }
  }
}

/** No seq missing, and `prev_hash` the hash of the row before (or the cut's, or genesis). */
function linked(r: Record<string, unknown>, previous: Link, afterCut: boolean): string | null {
  const seq = r.seq as number;
  if (seq !== previous.seq + 1) return `seq ${previous.seq + 1} to ${seq - 1} missing (deleted)`;
  if (r.prev_hash === previous.hash) return null;
  return previous.seq === 0
    ? `seq ${seq}: prev_hash is not the genesis hash`
    : `seq ${seq}: prev_hash does not match the hash of seq ${previous.seq}${
      afterCut ? " (where older ones were pruned)" : ""
    }`;
}

const checkReceipt: Check = () =>
  Promise.resolve((r) => {
    const seq = r.seq as number;
    let row: ReceiptFields;
    try {
      row = receiptFields(r.canonical as string);
    } catch {
      return `seq ${seq}: its canonical text is not JSON (edited)`;
    }
    if (row.seq !== seq || row.id !== r.id || row.agent !== r.agent || row.verdict !== r.verdict) {
      return `seq ${seq}: its columns disagree with its canonical text (edited)`;
    }
    // The hash covers the text as stored (and a text copied before schema 4 is the canonical
    // form its hash was computed over, so the same check holds for it).
    if (row.prev_hash !== r.prev_hash || chainHash(r.prev_hash, r.canonical as string) !== r.hash) {
      return `seq ${seq}: hash does not match its content (edited)`;
    }
    return null;
  });

/** Outcomes also name a receipt of the same gateway that was written ahead. */
function outcomeChecker(sql: Sql, cuts: Map<Chain, Link>): Check {
  return async (batch) => {
    const gateway = batch[0].gateway as string;
    const ids = batch.map((r) => r.receipt as string);
    const ahead = new Map<string, number>();
    for (
      const r of await sql`SELECT id, canonical, hash FROM clawpatrol_receipts
        WHERE gateway = ${gateway} AND id IN ${sql(ids)}`
    ) ahead.set(r.id, receiptFields(r.canonical).ahead);
    return (r) => {
      const seq = r.seq as number;
      let o: StoredOutcome;
      try {
        o = outcomeOfCanonical(r.canonical as string, r.hash as string);
      } catch {
        return `seq ${seq}: its canonical text is not JSON (edited)`;
      }
      if (o.seq !== seq || o.receipt !== r.receipt || o.prev_hash !== r.prev_hash) {
        return `seq ${seq}: its columns disagree with its canonical text (edited)`;
      }
      if (outcomeHash(o) !== r.hash) return `seq ${seq}: hash does not match its content (edited)`;
      const receipt = ahead.get(o.receipt);
      // A receipt pruned while its exchange was still open leaves its outcome behind.
      if (receipt === undefined ? !cuts.has("receipts") : receipt !== 1) {
        return `seq ${seq}: outcome of '${o.receipt}', which is not a receipt written ahead here`;
      }
      return null;
    };
  };
}
