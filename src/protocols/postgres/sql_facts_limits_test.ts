// The sql facts of texts at the edges: empty, malformed, huge or deeply nested; and the walk's
// fallback for node types it does not know.

import { deepEqual, equal } from "node:assert/strict";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";
import { collectFacts, verbFor } from "./_sql_walk.ts";
import { statements } from "./_sql_facts_testing.ts";

await loadSqlParser();

Deno.test("sql facts: empty, only ';' and only comments give zero statements", () => {
  for (const sql of ["", " \n\t", ";", ";;", "-- only comment", "/* c */"]) {
    deepEqual(new SqlAnalyzer().analyze(sql), { ok: true, statements: [] }, JSON.stringify(sql));
  }
});

Deno.test("sql facts: syntax error gives the parser's message", () => {
  deepEqual(new SqlAnalyzer().analyze("selec 1"), {
    ok: false,
    error: 'syntax error at or near "selec"',
  });
  const r = new SqlAnalyzer().analyze("select 1; drop tabel t");
  equal(r.ok, false);
});

Deno.test("sql facts: a NUL character fails closed instead of parsing a prefix", () => {
  const r = new SqlAnalyzer().analyze("select 1\0; drop table t");
  equal(r.ok, false);
});

Deno.test("sql facts: a 100 KB UNION ALL chain parses", () => {
  let sql = "select 1";
  while (sql.length < 100_000) sql += " union all select x from t";
  const got = statements(sql);
  equal(got.length, 1);
  equal(got[0].verb, "select");
  deepEqual(got[0].tables, ["t"]);
  equal(got[0].statement, sql);
});

Deno.test("sql facts: nesting deeper than the parser allows is an error, not a crash", () => {
  const sql = "select " + "(".repeat(20_000) + "1" + ")".repeat(20_000);
  equal(new SqlAnalyzer().analyze(sql).ok, false);
});

Deno.test("sql walk: unknown node types still get a verb", () => {
  equal(verbFor("FrobnicateStmt", {}), "frobnicate");
  equal(verbFor("CreateWidgetStmt", {}), "create");
  equal(verbFor("AlterWidgetStmt", {}), "alter");
  equal(verbFor("DropWidgetStmt", {}), "drop");
  equal(verbFor("TransactionStmt", { kind: "TRANS_STMT_FUTURE" }), "future");
  const facts = collectFacts({
    FrobnicateStmt: {
      target: { relname: "w", schemaname: "s" },
      nested: [{ DeleteStmt: { relation: { relname: "x" } } }],
      call: { FuncCall: { funcname: [{ String: { sval: "f" } }] } },
    },
  });
  deepEqual(
    {
      verb: facts.verb,
      verbs: facts.verbs,
      tables: facts.tables,
      functions: facts.functions,
      dynamic: facts.dynamic,
    },
    {
      verb: "frobnicate",
      verbs: ["frobnicate", "delete"],
      tables: ["s.w", "w", "x"],
      functions: ["f"],
      dynamic: false,
    },
  );
});
