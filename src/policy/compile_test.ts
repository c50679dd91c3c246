import {
  deepStrictEqual as assertEquals,
  fail,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { ConfigError } from "../core/mod.ts";
import { compilePolicy } from "./compile.ts";
import { configOf, FILE, http, policyOf, PREAMBLE_LINES, rule, sql } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

/** Compiles the preamble plus `text`, expecting a ConfigError, and returns it. */
async function compileError(text: string): Promise<ConfigError> {
  const config = await configOf(text);
  try {
    compilePolicy(config, { protocols: PROTOCOLS });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  return fail("expected a ConfigError, but the policy compiled");
}

/** Line of the `condition` attribute of the n-th (0-based) rule written by `rule()` with an
 * endpoint first, each rule taking five lines (header, endpoint, condition, verdict, brace). */
function conditionLine(n: number): number {
  return PREAMBLE_LINES + 5 * n + 3;
}

function denyRule(name: string, condition: string, endpoint = "https.github"): string {
  return rule(name, { endpoint, condition, verdict: "deny" });
}

Deno.test("compilePolicy() rejects an unknown fact field, naming the rule, file and line", async () => {
  const err = await compileError(denyRule("typo", "http.methd == 'get'"));
  assertEquals(err.problems.length, 1);
  const [p] = err.problems;
  assertEquals(p.file, FILE);
  assertEquals(p.line, conditionLine(0));
  assertMatch(p.message, /rule "typo"/);
  assertMatch(p.message, /methd/);
  assertMatch(err.message, new RegExp(`^${FILE}:${conditionLine(0)}: `));
});

Deno.test("compilePolicy() rejects a condition with a syntax error, naming the rule and line", async () => {
  const err = await compileError(denyRule("broken", "http.method == "));
  assertEquals(err.problems.length, 1);
  assertEquals(err.problems[0].file, FILE);
  assertEquals(err.problems[0].line, conditionLine(0));
  assertMatch(err.problems[0].message, /rule "broken": condition: /);
});

Deno.test("compilePolicy() rejects a condition that is not boolean", async () => {
  const err = await compileError(denyRule("stringy", "http.method"));
  assertEquals(err.problems.length, 1);
  assertMatch(err.problems[0].message, /rule "stringy".*must be true or false.*string/);
});

Deno.test("compilePolicy() rejects a fact of another protocol family", async () => {
  const err = await compileError(denyRule("wrong-family", "sql.verb == 'drop'"));
  assertEquals(err.problems.length, 1);
  assertMatch(err.problems[0].message, /rule "wrong-family".*sql/);
  // And the other way round: a postgres rule cannot read http facts.
  const err2 = await compileError(denyRule("pg-http", "http.method == 'get'", "postgres.pg"));
  assertMatch(err2.problems[0].message, /rule "pg-http".*http/);
});

Deno.test("compilePolicy() lets kubernetes rules read http facts as well as k8s facts", async () => {
  const policy = await policyOf(
    denyRule("k8s-http", "k8s.verb == 'delete' && http.method == 'delete'", "kubernetes.k8s"),
  );
  assertEquals(policy.size, 1);
});

Deno.test("compilePolicy() rejects a condition calling a function with the wrong types", async () => {
  const err = await compileError(denyRule("sets", "sets.contains(http.method, ['get'])"));
  assertMatch(err.problems[0].message, /rule "sets"/);
});

Deno.test("compilePolicy() reports every bad rule at once", async () => {
  const err = await compileError(
    denyRule("first", "http.methd == 'get'") +
      denyRule("good", "http.method == 'get'") +
      denyRule("second", "sql.verb == 'drop'"),
  );
  assertEquals(err.problems.map((p) => p.line), [conditionLine(0), conditionLine(2)]);
  assertMatch(err.problems[0].message, /rule "first"/);
  assertMatch(err.problems[1].message, /rule "second"/);
});

Deno.test("compilePolicy() accepts a rule without a condition as always matching", async () => {
  const policy = await policyOf(rule("all", { endpoint: "https.github", verdict: "deny" }));
  assertEquals(policy.decide(http({ method: "get" })).rule, "all");
});

Deno.test("compilePolicy() attaches a rule to every endpoint it names", async () => {
  const policy = await policyOf(
    rule("both", {
      endpoints: "[https.github, https.openai]",
      condition: "http.method == 'delete'",
      verdict: "deny",
    }),
  );
  assertEquals(policy.size, 2);
  assertEquals(policy.rulesFor("github").map((r) => r.rule.name), ["both"]);
  assertEquals(policy.rulesFor("openai").map((r) => r.rule.name), ["both"]);
  assertEquals(policy.rulesFor("pg").length, 0);
});

// Literal lowercasing ------------------------------------------------------------------------

/** Compiles one deny rule and returns its normalised condition and policy. */
async function lowered(condition: string, endpoint = "https.github") {
  const policy = await policyOf(denyRule("r", condition, endpoint));
  const name = endpoint.split(".")[1];
  return { policy, condition: policy.rulesFor(name)[0].condition };
}

const HTTP_LOWERCASE_CASES: [string, Record<string, unknown>][] = [
  ["http.method == 'POST'", { method: "POST" }],
  ["'POST' == http.method", { method: "post" }],
  ["http.method != 'GET'", { method: "post" }],
  ["http.method in ['PUT', 'Patch']", { method: "PATCH" }],
  ["http.headers['X-Api-Key'][0] == 'k'", { headers: { "x-api-key": ["k"] } }],
  ["'X-Foo' in http.headers", { headers: { "X-Foo": "1" } }],
  ["http.host.endsWith('.GitHub.com')", { host: "API.github.com" }],
  ["http.host.startsWith('API.')", { host: "api.github.com" }],
  ["http.scheme == 'HTTPS'", { scheme: "https" }],
  ["http.headers.exists(k, k == 'X-Foo')", { headers: { "x-foo": ["1"] } }],
  ["http.headers.exists(k, k.startsWith('X-'))", { headers: { "x-foo": ["1"] } }],
  ["http.headers.filter(k, k != 'Accept') == ['X-Foo']", { headers: { "X-Foo": "1" } }],
];

for (const [condition, facts] of HTTP_LOWERCASE_CASES) {
  Deno.test(`compilePolicy() lowercases literals compared with lowercase facts: ${condition}`, async () => {
    const { policy, condition: compiled } = await lowered(condition);
    assert(compiled !== condition, `expected '${condition}' to be rewritten`);
    assertEquals(policy.decide(http(facts)).rule, "r");
    assertEquals(policy.decide(http(facts)).decision, "deny");
  });
}

const SQL_LOWERCASE_CASES: [string, Record<string, unknown>][] = [
  ["'DROP' in sql.verbs", { verbs: ["drop"] }],
  ["sql.verbs.exists(v, v == 'DROP')", { verbs: ["select", "drop"] }],
  ["sql.verbs.exists(v, v in ['Drop', 'TRUNCATE'])", { verbs: ["truncate"] }],
  ["sql.verbs.all(v, v != 'SELECT')", { verbs: ["delete"] }],
  ["sets.contains(sql.verbs, ['DROP'])", { verbs: ["drop", "select"] }],
  ["sets.intersects(['DROP', 'Alter'], sql.verbs)", { verbs: ["alter"] }],
  ["sql.verb == 'DELETE'", { verb: "delete" }],
  ["sql.verbs[0] == 'UPDATE'", { verbs: ["update"] }],
  ["sql.verbs == ['INSERT']", { verbs: ["insert"] }],
  ["sql.verbs.filter(v, v != 'SELECT').exists(w, w == 'DROP')", { verbs: ["select", "drop"] }],
  ["'DROP' in sql.verbs.filter(v, v != 'SELECT')", { verbs: ["drop"] }],
];

for (const [condition, facts] of SQL_LOWERCASE_CASES) {
  Deno.test(`compilePolicy() lowercases literals compared with lowercase facts: ${condition}`, async () => {
    const { policy, condition: compiled } = await lowered(condition, "postgres.pg");
    assert(compiled !== condition, `expected '${condition}' to be rewritten`);
    assertEquals(policy.decide(sql(facts)).rule, "r");
  });
}

Deno.test("compilePolicy() does not lowercase literals compared with case-preserving facts", async () => {
  const { policy, condition } = await lowered("http.path == '/Repos'");
  assertEquals(condition, "http.path == '/Repos'");
  assertEquals(policy.decide(http({ path: "/Repos" })).rule, "r");
  assertEquals(policy.decide(http({ path: "/repos" })).rule, null);
});

Deno.test("compilePolicy() does not lowercase header values or query keys", async () => {
  for (
    const condition of [
      "http.headers['x-kind'][0] == 'Admin'",
      "'Admin' in http.headers['x-kind']",
      "'Page' in http.query",
      "sql.tables.exists(t, t == 'Users')",
    ]
  ) {
    const endpoint = condition.startsWith("sql") ? "postgres.pg" : "https.github";
    const { condition: compiled } = await lowered(condition, endpoint);
    assertEquals(compiled, condition);
  }
});

Deno.test("compilePolicy() does not lowercase a comparison with a macro variable that shadows a verb", async () => {
  const condition = "sql.verbs.exists(v, ['A'].exists(v, v == 'A'))";
  const { policy, condition: compiled } = await lowered(condition, "postgres.pg");
  assertEquals(compiled, condition);
  // ['A'].exists(v, v == 'A') is true, so any statement matches.
  assertEquals(policy.decide(sql({ verbs: ["select"] })).rule, "r");
  assertEquals(policy.decide(sql({ verbs: [] })).rule, null);
});

Deno.test("compilePolicy() keeps lowercasing in the outer macro after a shadowing inner macro", async () => {
  const condition = "sql.verbs.exists(v, ['x'].exists(v, v == 'x') && v == 'DROP')";
  const { policy, condition: compiled } = await lowered(condition, "postgres.pg");
  assertEquals(compiled, `sql.verbs.exists(v, ['x'].exists(v, v == 'x') && v == "drop")`);
  assertEquals(policy.decide(sql({ verbs: ["drop"] })).rule, "r");
});

Deno.test("compilePolicy() lowercases raw, triple-quoted and escaped literals correctly", async () => {
  const cases: [string, string][] = [
    ["http.method == r'PO\\ST'", "po\\st"],
    ["http.method == '''POST'''", "post"],
    ["http.method == 'P\\u004FST'", "post"],
    ['http.method == "PO\\"ST"', 'po"st'],
  ];
  for (const [condition, method] of cases) {
    const { policy } = await lowered(condition);
    assertEquals(policy.decide(http({ method })).rule, "r", condition);
  }
});

Deno.test("compilePolicy() lowercases literals after non-ASCII text at the right offsets", async () => {
  const { policy, condition } = await lowered("http.path == '/é😀' || http.method == 'POST'");
  assertEquals(condition, `http.path == '/é😀' || http.method == "post"`);
  assertEquals(policy.decide(http({ method: "post" })).rule, "r");
});
