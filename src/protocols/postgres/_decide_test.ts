import assert from "node:assert/strict";
import type { Action, ActionGuard, Decided, ExchangeResult } from "../../core/mod.ts";
import { decideSql, denialMessage, type SqlSession, summarize } from "./_decide.ts";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

await loadSqlParser();

/** A guard that denies actions whose verbs include `drop`, and records everything. */
function fakeGuard() {
  const actions: Action[] = [];
  const finished: (ExchangeResult | null)[] = [];
  const guard: ActionGuard = {
    decide(action): Decided {
      actions.push(action);
      const i = finished.push(null) - 1;
      const deny = action.facts.sql!.verbs.includes("drop") || (action.unknown?.length ?? 0) > 0;
      return {
        verdict: {
          decision: deny ? "deny" : "allow",
          wouldBe: deny ? "deny" : "allow",
          mode: "enforce",
          rule: deny ? "no-drop" : null,
          reason: deny ? "no drops" : "",
        },
        receipt: `rcpt_${i}`,
        finish: (r) => finished[i] = r,
      };
    },
    refuse: () => null,
    pass: () => {
      throw new Error("unused");
    },
  };
  return { guard, actions, finished };
}

const session: SqlSession = {
  endpoint: "pg",
  agent: { name: "bot", profile: "bots" },
  credential: "postgres_credential.pg_ro",
  database: "app",
  user: "agent_ro",
};

Deno.test("decideSql: one action per statement, each with its own facts", () => {
  const { guard, actions } = fakeGuard();
  const r = decideSql(guard, new SqlAnalyzer(), session, "select 1; select * from users");
  assert.equal(r.denial, null);
  assert.equal(r.decided.length, 2);
  assert.deepEqual(actions.map((a) => a.facts.sql!.statement), ["select 1", "select * from users"]);
  assert.deepEqual(actions.map((a) => a.facts.sql!.statement_count), [2n, 2n]);
  assert.equal(actions[1].facts.sql!.database, "app");
  assert.equal(actions[1].credential, "postgres_credential.pg_ro");
});

Deno.test("decideSql: one denied statement denies the message; allowed ones are closed as not run", () => {
  const { guard, finished } = fakeGuard();
  const r = decideSql(guard, new SqlAnalyzer(), session, "select 1; drop table t");
  assert.deepEqual(r.decided, []);
  assert.equal(r.denial?.receipt, "rcpt_1");
  assert.equal(r.denial?.rule, "no-drop");
  assert.match(finished[0]?.error ?? "", /not run/);
  assert.equal(finished[1], null, "the denied action's receipt is already final");
});

Deno.test("decideSql: unparseable SQL leaves the facts unknown and the hint names the parser error", () => {
  const { guard, actions } = fakeGuard();
  const r = decideSql(guard, new SqlAnalyzer(), session, "selec 1");
  assert.ok(actions[0].unknown?.includes("sql.verbs"));
  assert.match(
    r.denial?.hint ?? "",
    /could not parse this statement: syntax error at or near "selec"/,
  );
});

Deno.test("decideSql: binary Bind parameters make sql.params unknown", () => {
  const { guard, actions } = fakeGuard();
  decideSql(guard, new SqlAnalyzer(), session, "select $1", { params: null });
  assert.deepEqual(actions[0].unknown, ["sql.params"]);
  decideSql(guard, new SqlAnalyzer(), session, "select $1", { params: ["x"] });
  assert.deepEqual(actions[1].facts.sql!.params, ["x"]);
  assert.equal(actions[1].unknown, undefined);
});

Deno.test("decideSql: an empty query is no action", () => {
  const { guard, actions } = fakeGuard();
  assert.deepEqual(decideSql(guard, new SqlAnalyzer(), session, " ; -- nothing"), {
    decided: [],
    denial: null,
  });
  assert.equal(actions.length, 0);
});

Deno.test("summaries are one line and bounded; denial text follows DESIGN.md §5", () => {
  assert.equal(summarize("select\n  1,\n\t2"), "select 1, 2");
  assert.equal(summarize("x".repeat(500)).length, 200);
  assert.deepEqual(denialMessage({ reason: "no", rule: "r", receipt: "rcpt_1" }), {
    message: "denied by clawpatrol: no",
    detail: "receipt rcpt_1, rule r",
    hint: undefined,
  });
});

Deno.test("decideSql: changing client_encoding away from UTF-8 is refused before any rule", () => {
  const { guard, actions } = fakeGuard();
  const analyzer = new SqlAnalyzer();
  for (
    const sql of [
      "set client_encoding to 'SJIS'",
      "SET NAMES 'LATIN1'",
      "select set_config('client_encoding', 'GBK', false)",
    ]
  ) {
    const r = decideSql(guard, analyzer, session, sql);
    assert.match(r.denial?.reason ?? "", /client_encoding must stay UTF8/, sql);
  }
  assert.equal(actions.length, 0, "no rule saw them");
  assert.equal(decideSql(guard, analyzer, session, "set client_encoding to 'UTF8'").denial, null);
});
