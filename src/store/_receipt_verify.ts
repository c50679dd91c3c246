/**
 * Verifying every gateway's receipt chain from the store alone: each hash over its canonical
 * text, each `prev_hash` against the row before, no seq missing, and a chain whose older receipts
 * were pruned starting exactly after its cut (the last removed receipt's seq and hash, as the
 * gateway's local checkpoint keeps them); without a cut it starts at seq 1 on the genesis hash.
 *
 * @module
 */

import { rowHash, rowOfCanonical, type StoredRow } from "../audit/mod.ts";
import type { Sql } from "./_connect.ts";

/** `prev_hash` of a chain's first receipt (as `src/audit` writes it). */
const GENESIS_HASH = "0".repeat(64);

/** One gateway's chain as {@linkcode verifyStoreChains} found it. */
export interface StoreChainVerification {
  gateway: string;
  rows: number;
  /** The first seq the chain holds: above 1 when older receipts were pruned (`receipts.keep`). */
  from: number;
  /** The first problem, or `null` when every row checks. */
  problem: string | null;
}

/**
 * Recomputes every gateway's chain from the store, oldest first, a batch at a time.
 *
 * @example
 * ```ts
 * const chains = await verifyStoreChains(sql);
 * const broken = chains.filter((c) => c.problem !== null);
 * ```
 */
export async function verifyStoreChains(sql: Sql): Promise<StoreChainVerification[]> {
  const gateways = await sql`SELECT gateway FROM clawpatrol_receipts
    UNION SELECT gateway FROM clawpatrol_receipt_cuts ORDER BY gateway`;
  const results: StoreChainVerification[] = [];
  for (const { gateway } of gateways) {
    const [cut] = await sql`SELECT seq::int AS seq, hash FROM clawpatrol_receipt_cuts
      WHERE gateway = ${gateway}`;
    let previous: { seq: number; hash: string } = cut
      ? { seq: cut.seq, hash: cut.hash }
      : { seq: 0, hash: GENESIS_HASH };
    const from = previous.seq + 1;
    let rows = 0;
    let problem: string | null = null;
    while (problem === null) {
      const batch = await sql`SELECT seq::int AS seq, id, agent, verdict, prev_hash, hash,
          canonical FROM clawpatrol_receipts
        WHERE gateway = ${gateway} AND seq > ${previous.seq} ORDER BY seq LIMIT 1000`;
      if (batch.length === 0) break;
      for (const r of batch) {
        problem = checkRow(r, previous, cut !== undefined && rows === 0);
        if (problem !== null) break;
        previous = { seq: r.seq, hash: r.hash };
        rows++;
      }
    }
    results.push({ gateway, rows, from, problem });
  }
  return results;
}

function checkRow(
  r: Record<string, unknown>,
  previous: { seq: number; hash: string },
  afterCut: boolean,
): string | null {
  const seq = r.seq as number;
  let row: StoredRow;
  try {
    row = rowOfCanonical(r.canonical as string, r.hash as string);
  } catch {
    return `seq ${seq}: its canonical text is not JSON (edited)`;
  }
  if (seq !== previous.seq + 1) return `seq ${previous.seq + 1} to ${seq - 1} missing (deleted)`;
  if (r.prev_hash !== previous.hash) {
    return previous.seq === 0
      ? `seq ${seq}: prev_hash is not the genesis hash`
      : `seq ${seq}: prev_hash does not match the hash of seq ${previous.seq}${
        afterCut ? " (where older receipts were pruned)" : ""
      }`;
  }
  if (row.seq !== seq || row.id !== r.id || row.agent !== r.agent || row.verdict !== r.verdict) {
    return `seq ${seq}: its columns disagree with its canonical text (edited)`;
  }
  if (row.prev_hash !== r.prev_hash || rowHash(row) !== r.hash) {
    return `seq ${seq}: hash does not match its content (edited)`;
  }
  return null;
}
