import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import type { Action } from "../core/mod.ts";
import { EVALUATION_FAILED } from "./policy.ts";
import { http, policyOf, rule, sql } from "./_testing.ts";
import { ALLOW_ALL } from "./_policy_testing.ts";

// Fail closed --------------------------------------------------------------------------------

Deno.test("decide() denies when a rule fails at run time, with a generic reason and the error in detail", async () => {
  const policy = await policyOf(
    rule("header-check", {
      endpoint: "https.github",
      priority: 10,
      condition: "http.headers['x-missing'][0] == 'a'",
      verdict: "allow",
    }) + ALLOW_ALL,
  );
  const verdict = policy.decide(http({ method: "get" }));
  assertEquals(verdict.decision, "deny");
  assertEquals(verdict.rule, "header-check");
  assertEquals(verdict.reason, EVALUATION_FAILED);
  assert(!verdict.reason.includes("x-missing"), "the agent-facing reason must stay generic");
  assert(verdict.detail?.includes("header-check"), verdict.detail);
  assertMatch(verdict.detail!, /x-missing/);
  // With the header present the same rule allows.
  const ok = policy.decide(http({ method: "get", headers: { "X-Missing": "a" } }));
  assertEquals([ok.decision, ok.rule], ["allow", "header-check"]);
});

Deno.test("decide() denies when a rule reads a truncated body", async () => {
  const policy = await policyOf(
    rule("no-secrets", {
      endpoint: "https.github",
      priority: 10,
      condition: "http.body.contains('x')",
      verdict: "deny",
    }) + ALLOW_ALL,
  );
  // The truncated prefix does not contain 'x', but the rest of the body might.
  const action = http({ method: "post", body: "aaaa", body_truncated: true }, {
    unknown: ["http.body"],
  });
  const verdict = policy.decide(action);
  assertEquals([verdict.decision, verdict.rule, verdict.reason], [
    "deny",
    "no-secrets",
    EVALUATION_FAILED,
  ]);
  assertMatch(verdict.detail!, /http\.body/);
});

Deno.test("decide() denies when a rule reads body_json of a body that could not be read whole", async () => {
  const policy = await policyOf(
    rule("no-admin", {
      endpoint: "https.github",
      priority: 10,
      condition: "has(http.body_json.admin)",
      verdict: "deny",
    }) + ALLOW_ALL,
  );
  const action = http({ method: "post", body: '{"name": "x"}' }, { unknown: ["http.body"] });
  const verdict = policy.decide(action);
  assertEquals([verdict.decision, verdict.rule, verdict.reason], [
    "deny",
    "no-admin",
    EVALUATION_FAILED,
  ]);
});

Deno.test("decide() evaluates normally a rule that does not read the unknown fact", async () => {
  const policy = await policyOf(
    rule("reads", {
      endpoint: "https.github",
      priority: 10,
      condition: "http.method == 'get' && http.body_truncated",
      verdict: "allow",
    }) +
      rule("body", {
        endpoint: "https.github",
        priority: 5,
        condition: "http.body.contains('x')",
        verdict: "allow",
      }),
  );
  const action = http({ method: "get", body_truncated: true }, { unknown: ["http.body"] });
  assertEquals(policy.decide(action).rule, "reads");
  assertEquals(policy.decide(action).decision, "allow");
});

Deno.test("decide() denies every rule reading any sql fact when sql.* is unknown", async () => {
  for (const condition of ["sql.verb == 'select'", "'users' in sql.tables", "sql.dynamic"]) {
    const policy = await policyOf(
      rule("r", { endpoint: "postgres.pg", condition, verdict: "allow" }),
    );
    const verdict = policy.decide(sql({}, { unknown: ["sql.*"] }));
    assertEquals([verdict.decision, verdict.rule, verdict.reason], [
      "deny",
      "r",
      EVALUATION_FAILED,
    ]);
  }
  // A rule reading only the agent is unaffected.
  const agentOnly = await policyOf(
    rule("bots", { endpoint: "postgres.pg", condition: "agent.name == 'bot'", verdict: "allow" }),
  );
  assertEquals(agentOnly.decide(sql({}, { unknown: ["sql.*"] })).decision, "allow");
});

Deno.test("decide() skips a rule whose guard excludes the action even when it reads an unknown fact", async () => {
  const policy = await policyOf(
    rule("post-body", {
      endpoint: "https.github",
      priority: 10,
      condition: "http.method == 'post' && http.body.contains('x')",
      verdict: "deny",
    }) + ALLOW_ALL,
  );
  const get = policy.decide(http({ method: "get" }, { unknown: ["http.body"] }));
  assertEquals([get.decision, get.rule], ["allow", "allow-all"]);
  // The same rule on a POST cannot be decided: deny.
  const post = policy.decide(http({ method: "post" }, { unknown: ["http.body"] }));
  assertEquals([post.decision, post.rule, post.reason], ["deny", "post-body", EVALUATION_FAILED]);
});

Deno.test("decide() denies when the facts a rule reads are missing altogether", async () => {
  const policy = await policyOf(
    rule("reads", {
      endpoint: "https.github",
      condition: "http.method == 'get'",
      verdict: "allow",
    }),
  );
  const bare: Action = { ...http({}), facts: {} };
  const verdict = policy.decide(bare);
  assertEquals([verdict.decision, verdict.rule, verdict.reason], [
    "deny",
    "reads",
    EVALUATION_FAILED,
  ]);
});

Deno.test("decide() denies when a dyn condition yields a non-boolean", async () => {
  const policy = await policyOf(
    rule("json", {
      endpoint: "https.github",
      condition: "http.body_json.admin",
      verdict: "allow",
    }),
  );
  const text = policy.decide(http({ body: '{"admin": "yes"}' }));
  assertEquals([text.decision, text.rule, text.reason], ["deny", "json", EVALUATION_FAILED]);
  const yes = policy.decide(http({ body: '{"admin": true}' }));
  assertEquals([yes.decision, yes.rule], ["allow", "json"]);
});

Deno.test("decide() settles a rule plain JS can decide without CEL, and leaves CEL the rest", async () => {
  const policy = await policyOf(
    rule("reads", {
      endpoint: "postgres.pg",
      condition: "sql.verbs.all(v, v in ['select', 'show'])",
      verdict: "allow",
    }),
  );
  const [compiled] = policy.rulesFor("pg");
  assert(compiled.exact, "the rule's shape has an exact evaluator");
  // CEL now fails whenever it runs, so a decision that reaches it denies.
  let celRuns = 0;
  compiled.evaluate = () => {
    celRuns++;
    throw new Error("CEL ran");
  };
  assertEquals(policy.decide(sql({ verbs: ["select", "show"] })).decision, "allow");
  assertEquals(
    policy.decide(sql({ verbs: ["select", "drop"] })).reason,
    "no rule allows this request",
  );
  assertEquals(celRuns, 0);
  // Facts it cannot be sure of (a verb that is not a string) go to CEL, which fails closed.
  const action = sql({ verbs: ["select"] });
  (action.facts.sql as { verbs: unknown[] }).verbs = ["select", 7];
  const odd = policy.decide(action);
  assertEquals([odd.decision, odd.reason, celRuns], ["deny", EVALUATION_FAILED, 1]);
  // So does any action with an unknown fact: the rule reading it denies as before.
  const unknown = policy.decide(sql({ verbs: ["select"] }, { unknown: ["sql.verbs"] }));
  assertEquals([unknown.decision, unknown.reason], ["deny", EVALUATION_FAILED]);
  assertMatch(unknown.detail!, /could not be established/);
});
