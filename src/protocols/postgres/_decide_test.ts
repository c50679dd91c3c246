import assert from "node:assert/strict";
import type { Action, Decided, ExchangeResult, SessionActions } from "../../core/mod.ts";
import { decideSql, denialMessage, type SqlSession, summarize } from "./_decide.ts";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

await loadSqlParser();

/** A guard that denies actions whose verbs include `drop`, and records everything. */
function fakeGuard() {
  const actions: Action[] = [];
  const finished: (ExchangeResult | null)[] = [];
  const guard: Pick<SessionActions, "decide" | "refuse" | "complete"> = {
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
    complete: (decided, result) => decided.forEach((d) => d.finish(result)),
  };
  return { guard, actions, finished };
}

/** decideSql for guards that never hold: the decision itself. */
function decideNow(...args: Parameters<typeof decideSql>) {
  const outcome = decideSql(...args);
  if ("held" in outcome) throw new Error("unexpectedly held");
  return outcome;
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
  const r = decideNow("select 1; select * from users", [], {
    actions: guard,
    analyzer: new SqlAnalyzer(),
    session,
  });
  assert.equal(r.denial, null);
  assert.equal(r.decided.length, 2);
  assert.deepEqual(actions.map((a) => a.facts.sql!.statement), ["select 1", "select * from users"]);
  assert.deepEqual(actions.map((a) => a.facts.sql!.statement_count), [2, 2]);
  assert.equal(actions[1].facts.sql!.database, "app");
  assert.equal(actions[1].credential, "postgres_credential.pg_ro");
});

Deno.test("decideSql: one denied statement denies the message; allowed ones are closed as not run", () => {
  const { guard, finished } = fakeGuard();
  const r = decideNow("select 1; drop table t", [], {
    actions: guard,
    analyzer: new SqlAnalyzer(),
    session,
  });
  assert.deepEqual(r.decided, []);
  assert.equal(r.denial?.receipt, "rcpt_1");
  assert.equal(r.denial?.rule, "no-drop");
  assert.match(finished[0]?.error ?? "", /not run/);
  assert.equal(finished[1], null, "the denied action's receipt is already final");
});

Deno.test("decideSql: unparseable SQL leaves the facts unknown and the hint names the parser error", () => {
  const { guard, actions } = fakeGuard();
  const r = decideNow("selec 1", [], { actions: guard, analyzer: new SqlAnalyzer(), session });
  assert.ok(actions[0].unknown?.includes("sql.verbs"));
  assert.match(
    r.denial?.hint ?? "",
    /could not parse this statement: syntax error at or near "selec"/,
  );
});

Deno.test("decideSql: binary Bind parameters make sql.params unknown", () => {
  const { guard, actions } = fakeGuard();
  decideNow("select $1", null, { actions: guard, analyzer: new SqlAnalyzer(), session });
  assert.deepEqual(actions[0].unknown, ["sql.params"]);
  decideNow("select $1", ["x"], { actions: guard, analyzer: new SqlAnalyzer(), session });
  assert.deepEqual(actions[1].facts.sql!.params, ["x"]);
  assert.equal(actions[1].unknown, undefined);
});

Deno.test("decideSql: an empty query is no action", () => {
  const { guard, actions } = fakeGuard();
  assert.deepEqual(
    decideNow(" ; -- nothing", [], { actions: guard, analyzer: new SqlAnalyzer(), session }),
    {
      decided: [],
      denial: null,
    },
  );
  assert.equal(actions.length, 0);
});

Deno.test("summaries are one line and bounded; denial text follows DESIGN.md §5", () => {
  assert.equal(summarize("select\n  1,\n\t2"), "select 1, 2");
  assert.equal(summarize("x".repeat(500)).length, 200);
  // Text already on one line with single spaces is kept as it is; any other whitespace (a run,
  // a tab, a no-break or line separator space, at the ends) still folds to one space.
  const texts = [
    "select 1",
    " select 1 ",
    "select  1",
    "select\u00a01",
    "select\u20281",
    "select\ufeff1",
    "select 1\r",
    "\tselect 1",
  ];
  for (const text of texts) assert.equal(summarize(text), text.replace(/\s+/g, " ").trim());
  assert.equal(summarize("select\u00a0 1"), "select 1");
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
    const r = decideNow(sql, [], { actions: guard, analyzer, session });
    assert.match(r.denial?.reason ?? "", /client_encoding must stay UTF8/, sql);
  }
  assert.equal(actions.length, 0, "no rule saw them");
  assert.equal(
    decideNow("set client_encoding to 'UTF8'", [], { actions: guard, analyzer, session }).denial,
    null,
  );
});

/** A guard that holds `update` statements for approval until `release` is called. */
function holdingGuard() {
  const signals: AbortSignal[] = [];
  let release!: (decision: "allow" | "deny") => void;
  const verdict = (decision: "allow" | "deny", reason: string) => ({
    decision,
    wouldBe: decision,
    mode: "enforce" as const,
    rule: decision === "deny" ? "r" : null,
    reason,
  });
  const guard: Pick<SessionActions, "decide" | "refuse" | "complete"> = {
    decide(action, options): Decided {
      const verbs = action.facts.sql!.verbs;
      if (verbs.includes("drop")) {
        return { verdict: verdict("deny", "no drops"), receipt: "rcpt_d", finish: () => {} };
      }
      if (!verbs.includes("update")) {
        return { verdict: verdict("allow", ""), receipt: "rcpt_a", finish: () => {} };
      }
      signals.push(options!.signal!);
      const held = new Promise<Decided>((resolve) => {
        release = (d) =>
          resolve({
            verdict: verdict(d, d === "deny" ? "denied by ops" : ""),
            receipt: "rcpt_h",
            finish: () => {},
          });
        options!.signal!.addEventListener("abort", () => release("deny"));
      });
      return { verdict: verdict("deny", "waiting"), receipt: null, finish: () => {}, held };
    },
    refuse: () => null,
    complete: (decided, result) => decided.forEach((d) => d.finish(result)),
  };
  return { guard, signals, release: (d: "allow" | "deny") => release(d) };
}

Deno.test("decideSql: a statement held for approval settles the message once approved", async () => {
  const { guard, release } = holdingGuard();
  const outcome = decideSql("select 1; update t set x = 1", [], {
    actions: guard,
    analyzer: new SqlAnalyzer(),
    session,
  });
  assert.ok("held" in outcome);
  release("allow");
  const decision = await outcome.held;
  assert.equal(decision.denial, null);
  assert.equal(decision.decided.length, 2);
});

Deno.test("decideSql: a held statement denied by its approver denies the whole message", async () => {
  const { guard, release } = holdingGuard();
  const outcome = decideSql("update t set x = 1", [], {
    actions: guard,
    analyzer: new SqlAnalyzer(),
    session,
  });
  assert.ok("held" in outcome);
  release("deny");
  const decision = await outcome.held;
  assert.equal(decision.denial?.reason, "denied by ops");
});

Deno.test("decideSql: a sibling denied outright cancels the held statement's approval", async () => {
  const { guard, signals } = holdingGuard();
  const outcome = decideSql("update t set x = 1; drop table t", [], {
    actions: guard,
    analyzer: new SqlAnalyzer(),
    session,
  });
  assert.ok("held" in outcome);
  assert.equal(signals[0].aborted, true);
  const decision = await outcome.held;
  assert.ok(decision.denial);
});

Deno.test("decideSql: the agent going away cancels a held statement", async () => {
  const { guard, signals } = holdingGuard();
  const gone = new AbortController();
  const outcome = decideSql("update t set x = 1", [], {
    actions: guard,
    analyzer: new SqlAnalyzer(),
    session,
    signal: gone.signal,
  });
  assert.ok("held" in outcome);
  assert.equal(signals[0].aborted, false);
  gone.abort(new Error("agent went away"));
  assert.equal(signals[0].aborted, true);
  assert.ok((await outcome.held).denial);
});
