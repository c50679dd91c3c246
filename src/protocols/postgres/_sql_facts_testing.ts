/**
 * Shared by the sql facts tests.
 *
 * @module
 */

import { SqlAnalyzer, type StatementFacts } from "./sql_facts.ts";

/** The statements of `sql`, which must analyse without error. */
export function statements(sql: string): StatementFacts[] {
  const r = new SqlAnalyzer().analyze(sql);
  if (!r.ok) throw new Error(`expected ok for ${JSON.stringify(sql)}, got ${r.error}`);
  return r.statements;
}
