/**
 * The chained tables' rows as plain objects of one fixed shape, from `SELECT *` arrays: what
 * `log verify` hashes, whichever thread reads them.
 *
 * @module
 */

import type { StoredRow } from "./_row.ts";
import type { StoredOutcome } from "./_outcome.ts";
import type { ColumnIndex } from "./_seq_pages.ts";

/** Receipt rows as objects; `ahead` and `policy` are absent from files of schema 1 and 2. */
export function receiptShape(column: ColumnIndex): (row: unknown[]) => StoredRow {
  const at = (name: string) => column(name);
  const [seq, id, time, agent, profile, endpoint, protocol, summary, facts, rule, mode] = [
    "seq",
    "id",
    "time",
    "agent",
    "profile",
    "endpoint",
    "protocol",
    "summary",
    "facts",
    "rule",
    "mode",
  ].map(at);
  const [verdict, wouldBe, reason, approvals, status, bytesIn, bytesOut, latency] = [
    "verdict",
    "would_be",
    "reason",
    "approvals",
    "upstream_status",
    "bytes_in",
    "bytes_out",
    "latency_ms",
  ].map(at);
  const [prevHash, hash, ahead, policy] = ["prev_hash", "hash", "ahead", "policy"].map(at);
  // deno-lint-ignore no-explicit-any
  return (r: any[]) => ({
    seq: r[seq],
    id: r[id],
    time: r[time],
    agent: r[agent],
    profile: r[profile],
    endpoint: r[endpoint],
    protocol: r[protocol],
    summary: r[summary],
    facts: r[facts],
    rule: r[rule],
    mode: r[mode],
    verdict: r[verdict],
    would_be: r[wouldBe],
    reason: r[reason],
    approvals: r[approvals],
    upstream_status: r[status],
    bytes_in: r[bytesIn],
    bytes_out: r[bytesOut],
    latency_ms: r[latency],
    prev_hash: r[prevHash],
    hash: r[hash],
    ahead: ahead < 0 ? 0 : r[ahead],
    policy: policy < 0 ? null : r[policy],
  });
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
