/**
 * A receipt as the chain stores it (schema 4): one JSON text per row, and the row's hash over its
 * predecessor's hash and that text, byte for byte. Verifying a row hashes what was stored; it
 * never rebuilds a canonical form, so the writer, `log verify` and a copy in the shared store can
 * never disagree about what a hash covers.
 *
 * Rows written before schema 4 keep their hashes: their text is the canonical form they were
 * hashed as (`_legacy_rows.ts`), whose hash was already `sha256(prev_hash ‖ canonical)`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ApprovalStage, Receipt } from "../core/mod.ts";
import type { PendingRow } from "./_row.ts";

/** `prev_hash` of the first receipt. */
export const GENESIS_HASH = "0".repeat(64);

/** One row of the `receipts` table. */
export interface ChainRow {
  seq: number;
  id: string;
  /** The receipt as JSON; see {@linkcode chainedText}. */
  canonical: string;
  hash: string;
}

export const INSERT_SQL = "INSERT INTO receipts (seq, id, canonical, hash) VALUES (?, ?, ?, ?)";

/**
 * A receipt on its way to the writer: its stored text but for its place in the chain, which only
 * the writer knows. Built on the event loop when its batch leaves (no outcome can fold into the
 * row after that), so the writer is handed two strings instead of a clone of twenty fields.
 */
export interface SealedRow {
  id: string;
  /** The stored text after `prev_hash`: see {@linkcode chainedText}. */
  tail: string;
}

/** `r` as the writer takes it. */
export function sealRow(r: PendingRow): SealedRow {
  const fields = JSON.stringify({
    id: r.id,
    time: r.time,
    agent: r.agent,
    profile: r.profile,
    endpoint: r.endpoint,
    protocol: r.protocol,
    summary: r.summary,
    rule: r.rule,
    mode: r.mode,
    verdict: r.verdict,
    would_be: r.would_be,
    reason: r.reason,
    upstream_status: r.upstream_status,
    bytes_in: r.bytes_in,
    bytes_out: r.bytes_out,
    latency_ms: r.latency_ms,
    ahead: r.ahead,
    policy: r.policy,
  });
  // r.facts and r.approvals are JSON.stringify output (toPendingRow), so this stays one JSON text.
  return {
    id: r.id,
    tail: `${fields.slice(1, -1)},"facts":${r.facts},"approvals":${r.approvals}}`,
  };
}

/**
 * The stored text of a sealed receipt: its place in the chain first, then its fields, then its
 * facts and approvals as JSON values (not as strings holding JSON, which would escape every quote
 * of the facts a second time). Written once by the writer and hashed as written.
 */
export function chainedText(row: SealedRow, seq: number, prevHash: string): string {
  return `{"seq":${JSON.stringify(seq)},"prev_hash":${JSON.stringify(prevHash)},${row.tail}`;
}

/** `sha256hex(prevHash ‖ text)`: the hash of a row whose predecessor's hash is `prevHash`. */
export function chainHash(prevHash: string, text: string): string {
  return createHash("sha256").update(prevHash).update(text).digest("hex");
}

/** A stored text's fields, as parsed; facts and approvals already decoded. */
export type ReceiptFields = Omit<PendingRow, "facts" | "approvals" | "ahead"> & {
  seq: number;
  prev_hash: string;
  ahead: number;
  facts: unknown;
  approvals: unknown;
};

/**
 * The fields of a stored text, of either form. Throws SyntaxError when it is not JSON. A text
 * written before schema 4 holds facts and approvals as JSON strings, and leaves out `ahead` and
 * `policy` when unset.
 */
export function receiptFields(text: string): ReceiptFields {
  const parsed = JSON.parse(text) as ReceiptFields;
  if (typeof parsed.facts === "string") parsed.facts = JSON.parse(parsed.facts);
  if (typeof parsed.approvals === "string") parsed.approvals = JSON.parse(parsed.approvals);
  parsed.ahead ??= 0;
  parsed.policy ??= null;
  return parsed;
}

/** The predecessor's hash a stored text names, or `undefined` when it is not a receipt's JSON. */
export function claimedPrevHash(text: string): string | undefined {
  try {
    const prev = (JSON.parse(text) as { prev_hash?: unknown }).prev_hash;
    return typeof prev === "string" ? prev : undefined;
  } catch {
    return undefined;
  }
}

/** An outcome as read back with its receipt (`o_` columns of the query's join). */
export interface JoinedOutcome {
  o_time: string | null;
  o_upstream_status: number | null;
  o_bytes_in: number | null;
  o_bytes_out: number | null;
  o_latency_ms: number | null;
  o_error: string | null;
  o_not_run: number | null;
}

/**
 * The {@linkcode Receipt} callers see for a stored row. A row written ahead shows its outcome's
 * status, bytes and latency, and its error in the reason, as a one-row receipt would.
 */
export function toReceipt(r: ChainRow & Partial<JoinedOutcome>): Receipt {
  const receipt = storedReceipt(r);
  if (receipt.outcome === undefined) return receipt;
  if (r.o_time === null || r.o_time === undefined) return { ...receipt, outcome: null };
  const outcome = {
    time: new Date(r.o_time),
    upstreamStatus: r.o_upstream_status ?? null,
    bytesIn: r.o_bytes_in ?? 0,
    bytesOut: r.o_bytes_out ?? 0,
    latencyMs: r.o_latency_ms ?? 0,
    error: r.o_error ?? null,
    notRun: r.o_not_run === 1,
  };
  return {
    ...receipt,
    upstreamStatus: outcome.upstreamStatus,
    bytesIn: outcome.bytesIn,
    bytesOut: outcome.bytesOut,
    latencyMs: outcome.latencyMs,
    reason: outcome.error === null ? receipt.reason : `${receipt.reason} (${outcome.error})`,
    outcome,
  };
}

// `outcome` is set (to null) only for a row written ahead, for toReceipt to fill in.
function storedReceipt(r: ChainRow): Receipt {
  const f = receiptFields(r.canonical);
  return {
    id: f.id,
    seq: r.seq,
    time: new Date(f.time),
    agent: f.agent,
    profile: f.profile,
    endpoint: f.endpoint,
    protocol: f.protocol as Receipt["protocol"],
    summary: f.summary,
    facts: f.facts as Receipt["facts"],
    rule: f.rule,
    mode: f.mode as Receipt["mode"],
    verdict: f.verdict as Receipt["verdict"],
    wouldBe: f.would_be as Receipt["wouldBe"],
    reason: f.reason,
    approvals: f.approvals as ApprovalStage[],
    upstreamStatus: f.upstream_status,
    bytesIn: f.bytes_in,
    bytesOut: f.bytes_out,
    latencyMs: f.latency_ms,
    prevHash: f.prev_hash,
    hash: r.hash,
    ...(f.policy ? { policy: f.policy } : {}),
    ...(f.ahead === 1 ? { outcome: null } : {}),
  };
}
