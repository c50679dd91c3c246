// The walk reads the parse tree's own keys only: a property someone added to Object.prototype
// (prototype pollution in any dependency) must not become part of every node.

import { deepEqual } from "node:assert/strict";
import { loadSqlParser } from "./sql_facts.ts";
import { statements } from "./_sql_facts_testing.ts";

Deno.test("sql facts: an enumerable property on Object.prototype is not read as a child of every node", async () => {
  await loadSqlParser();
  const sql = "SELECT a FROM t JOIN u ON u.id = t.id WHERE f(a) > 1";
  const clean = statements(sql);
  const proto = Object.prototype as unknown as Record<string, unknown>;
  proto.polluted = { RangeVar: { relname: "injected" }, FuncCall: { funcname: [] } };
  try {
    // A new constant: parsed and walked again, not served from a cache.
    const polluted = statements(sql.replace("> 1", "> 2"));
    deepEqual(polluted.map((s) => s.tables), clean.map((s) => s.tables));
    deepEqual(polluted.map((s) => s.functions), clean.map((s) => s.functions));
  } finally {
    delete proto.polluted;
  }
});
