/**
 * The stored form of an outcome: what happened to an allowed action after its receipt was written
 * ahead of forwarding. Validation, canonical form and chain hash, shared by the writer and verify.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ReceiptOutcome } from "../core/mod.ts";
import { isoTime } from "./_iso_time.ts";

/** What a caller hands the store when an allowed action's exchange is over: what it reads back. */
export type OutcomeInput = ReceiptOutcome;

/** A validated outcome awaiting its place in the outcome chain. */
export interface PendingOutcome {
  receipt: string;
  time: string;
  upstream_status: number | null;
  bytes_in: number;
  bytes_out: number;
  latency_ms: number;
  error: string | null;
  not_run: 0 | 1;
}

/** One row of the `outcomes` table. */
export interface StoredOutcome extends PendingOutcome {
  seq: number;
  prev_hash: string;
  hash: string;
}

export const INSERT_OUTCOME_SQL = `INSERT INTO outcomes (seq, receipt, time, upstream_status,
  bytes_in, bytes_out, latency_ms, error, not_run, prev_hash, hash)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** The values of {@linkcode INSERT_OUTCOME_SQL}, in order. */
export function outcomeValues(o: StoredOutcome): (string | number | null)[] {
  return [
    o.seq,
    o.receipt,
    o.time,
    o.upstream_status,
    o.bytes_in,
    o.bytes_out,
    o.latency_ms,
    o.error,
    o.not_run,
    o.prev_hash,
    o.hash,
  ];
}

/** The JSON an outcome's hash covers: every field but `hash`, keys in sorted order. */
export function canonicalOutcome(o: Omit<StoredOutcome, "hash">): string {
  return JSON.stringify({
    bytes_in: o.bytes_in,
    bytes_out: o.bytes_out,
    error: o.error,
    latency_ms: o.latency_ms,
    not_run: o.not_run,
    prev_hash: o.prev_hash,
    receipt: o.receipt,
    seq: o.seq,
    time: o.time,
    upstream_status: o.upstream_status,
  });
}

/** `sha256hex(prev_hash ‖ canonical(outcome))`, keys in sorted order as for receipts. */
export function outcomeHash(o: Omit<StoredOutcome, "hash">): string {
  return createHash("sha256").update(o.prev_hash).update(canonicalOutcome(o)).digest("hex");
}

/** Validates an outcome; throws TypeError for what the insert would choke on. */
export function toPendingOutcome(receipt: string, input: OutcomeInput): PendingOutcome {
  const error = checkedOutcomeError(receipt, input);
  return {
    receipt,
    time: isoTime(input.time),
    upstream_status: input.upstreamStatus,
    bytes_in: input.bytesIn,
    bytes_out: input.bytesOut,
    latency_ms: input.latencyMs,
    error,
    not_run: input.notRun ? 1 : 0,
  };
}

/**
 * Checks an outcome as {@linkcode toPendingOutcome} does and returns its error text as stored:
 * well-formed, a NUL as U+FFFD (node:sqlite would cut the text there, and the stored row would
 * no longer match its hash). For an outcome merged into its receipt's row, which needs no
 * outcome row of its own.
 */
export function checkedOutcomeError(receipt: string, input: OutcomeInput): string | null {
  if (!(input.time instanceof Date) || Number.isNaN(input.time.getTime())) {
    throw invalid(receipt, "time", input.time);
  }
  const status = input.upstreamStatus;
  if (status !== null && !Number.isSafeInteger(status)) {
    throw invalid(receipt, "upstreamStatus", status);
  }
  if (!Number.isSafeInteger(input.bytesIn) || input.bytesIn < 0) {
    throw invalid(receipt, "bytesIn", input.bytesIn);
  }
  if (!Number.isSafeInteger(input.bytesOut) || input.bytesOut < 0) {
    throw invalid(receipt, "bytesOut", input.bytesOut);
  }
  if (!Number.isFinite(input.latencyMs)) throw invalid(receipt, "latencyMs", input.latencyMs);
  return input.error === null ? null : input.error.toWellFormed().replaceAll("\0", "\uFFFD");
}

function invalid(receipt: string, field: string, value: unknown): TypeError {
  return new TypeError(`Cannot record outcome of '${receipt}': invalid ${field} '${value}'`);
}
