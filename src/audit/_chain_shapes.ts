/**
 * The chained tables' rows as plain objects of one fixed shape, from `SELECT *` arrays: what
 * `log verify` hashes, whichever thread reads them.
 *
 * @module
 */

import type { ChainRow } from "./_chain_text.ts";
import type { StoredOutcome } from "./_outcome.ts";
import type { ColumnIndex } from "./_seq_pages.ts";

/** Receipt rows as objects (schema 4's columns, which an older file shows through a view). */
export function receiptShape(column: ColumnIndex): (row: unknown[]) => ChainRow {
  const [seq, id, canonical, hash] = ["seq", "id", "canonical", "hash"].map(column);
  // deno-lint-ignore no-explicit-any
  return (r: any[]) => ({ seq: r[seq], id: r[id], canonical: r[canonical], hash: r[hash] });
}

export function outcomeShape(column: ColumnIndex): (row: unknown[]) => StoredOutcome {
  const [seq, receipt, time, status, bytesIn, bytesOut, latency, error, notRun] = [
    "seq",
    "receipt",
    "time",
    "upstream_status",
    "bytes_in",
    "bytes_out",
    "latency_ms",
    "error",
    "not_run",
  ].map(column);
  const [prevHash, hash] = ["prev_hash", "hash"].map(column);
  // deno-lint-ignore no-explicit-any
  return (r: any[]) => ({
    seq: r[seq],
    receipt: r[receipt],
    time: r[time],
    upstream_status: r[status],
    bytes_in: r[bytesIn],
    bytes_out: r[bytesOut],
    latency_ms: r[latency],
    error: r[error],
    not_run: r[notRun],
    prev_hash: r[prevHash],
    hash: r[hash],
  });
}
