/**
 * Receipts as schemas 1 to 3 stored them: one column per field, the hash over a canonical text
 * rebuilt from the columns. Schema 4 stores that text itself (`_chain_text.ts`); this module
 * makes it from an older file's columns, for the migration and for reading an older file that no
 * gateway has opened since (read-only, through a temporary view with the new columns).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { PendingRow } from "./_row.ts";

/**
 * One row of a schema 1–3 `receipts` table but its hash: the fields a pending receipt has, and its
 * place in the chain (`ahead` and `policy` came with schemas 2 and 3; older rows read 0 and null).
 */
export type LegacyRow = PendingRow & { seq: number; prev_hash: string };

/**
 * The canonical text a schema 1–3 row's hash covers: every column except `hash`, as
 * `JSON.stringify` of an object whose keys are in sorted order. Facts and approvals enter as
 * their stored JSON text. `ahead` and `policy` enter only when set, so rows written before they
 * existed kept their hashes.
 */
export function canonicalRow(r: LegacyRow): string {
  return JSON.stringify({
    ahead: r.ahead === 1 ? 1 : undefined,
    agent: r.agent,
    approvals: r.approvals,
    bytes_in: r.bytes_in,
    bytes_out: r.bytes_out,
    endpoint: r.endpoint,
    facts: r.facts,
    id: r.id,
    latency_ms: r.latency_ms,
    mode: r.mode,
    policy: r.policy ? r.policy : undefined,
    prev_hash: r.prev_hash,
    profile: r.profile,
    protocol: r.protocol,
    reason: r.reason,
    rule: r.rule,
    seq: r.seq,
    summary: r.summary,
    time: r.time,
    upstream_status: r.upstream_status,
    verdict: r.verdict,
    would_be: r.would_be,
  });
}

/** A legacy table's columns but `hash`, in the order the SQL function takes them. */
export const LEGACY_COLUMNS = [
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
  "verdict",
  "would_be",
  "reason",
  "approvals",
  "upstream_status",
  "bytes_in",
  "bytes_out",
  "latency_ms",
  "prev_hash",
  "ahead",
  "policy",
] as const;

const FUNCTION = "clawpatrol_legacy_canonical";

/**
 * Registers the SQL function that makes a legacy row's canonical text on `db`, and returns the
 * expression that calls it over `table`'s columns (`hasAhead`/`hasPolicy`: whether the table
 * has those columns yet). `onRow` is called for each row it makes.
 */
export function legacyCanonicalSql(
  db: DatabaseSync,
  table: string,
  has: { ahead: boolean; policy: boolean },
  onRow?: () => void,
): string {
  db.function(FUNCTION, { deterministic: true, varargs: true }, (...values) => {
    onRow?.();
    const row = Object.fromEntries(
      LEGACY_COLUMNS.map((c, i) => [c, values[i]]),
    ) as unknown as LegacyRow;
    return canonicalRow(row);
  });
  const columns = LEGACY_COLUMNS.map((c) =>
    (c === "ahead" && !has.ahead) ? "0" : (c === "policy" && !has.policy) ? "NULL" : `${table}.${c}`
  );
  return `${FUNCTION}(${columns.join(", ")})`;
}

/** Whether `table` of `db` has `column`. */
export function hasColumn(db: DatabaseSync, table: string, column: string): boolean {
  return db.prepare(`SELECT 1 FROM pragma_table_info('${table}') WHERE name = ?`).get(column) !==
    undefined;
}
