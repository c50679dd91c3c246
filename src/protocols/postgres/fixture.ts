/**
 * What `clawpatrol test` derives from a Postgres fixture case: with `sql.statement` alone, the
 * real PostgreSQL parser gives verbs, tables, functions, `dynamic`, settings and `read_only` for
 * each statement, and the case is decided statement by statement as the gateway would. A case
 * that writes any of those facts out is used as given.
 *
 * @module
 */

import type { FixtureDeriver } from "../../core/mod.ts";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

/** Facts the SQL parser derives, so a fixture can give just the statement. */
const DERIVED_SQL = [
  "verb",
  "verbs",
  "tables",
  "functions",
  "dynamic",
  "settings",
  "read_only",
  "statement_count",
];

/** Loads the parser (WASM, ~100 ms) and returns the postgres fixture deriver. */
export async function sqlFixtureFacts(): Promise<FixtureDeriver> {
  await loadSqlParser();
  const analyzer = new SqlAnalyzer();
  return (facts) => {
    const sql = facts.sql;
    if (typeof sql?.statement !== "string") return null;
    if (DERIVED_SQL.some((f) => f in sql)) return null;
    const analysis = analyzer.analyze(sql.statement);
    // The gateway decides unparseable SQL with the parser's facts unknown: so does the fixture.
    if (!analysis.ok) {
      return [{ facts, unknown: DERIVED_SQL.slice(0, 7).map((f) => `sql.${f}`) }];
    }
    return analysis.statements.map((s) => ({
      facts: {
        ...facts,
        sql: {
          ...sql,
          verb: s.verb,
          verbs: [...s.verbs],
          tables: [...s.tables],
          functions: [...s.functions],
          dynamic: s.dynamic,
          settings: [...s.settings],
          read_only: s.readOnly,
          statement: s.statement,
          statement_count: analysis.statements.length,
        },
      },
      ...(s.unknown.length > 0 ? { unknown: [...s.unknown] } : {}),
      ...(s.refusal !== null ? { refusal: s.refusal } : {}),
    }));
  };
}
