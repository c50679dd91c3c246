// Property: the guards extractGuards() puts in front of a rule, and the exact evaluators that
// decide a rule without CEL (`_exact.ts`), never change a decision.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { serialize } from "@marcbachmann/cel-js";
import type { Action } from "../core/mod.ts";
import { environmentFor, factSchema, factsContext } from "./_facts.ts";
import { factReads, readsUnknown } from "./_analyze.ts";
import type { CompiledRule } from "./compile.ts";
import { EVALUATION_FAILED, NO_MATCH, Policy } from "./policy.ts";
import { actionOf, policyOf, rule } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

const SCHEMA = factSchema(PROTOCOLS);

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HTTP_CONDITIONS = [
  "http.method == 'GET'",
  "http.method in ['post', 'PUT'] && http.path.startsWith('/repos/')",
  "http.path.endsWith('.json') || http.method == 'delete'",
  "!(http.method == 'get') && http.host.endsWith('.github.com')",
  "http.host == 'api.github.com' && http.path.contains('/admin')",
  "'post' == http.method && http.body.contains('secret')",
  "http.headers.exists(k, k == 'X-Admin') && http.method == 'post'",
  "http.query.exists(k, k == 'force') && http.method in ['delete', 'put']",
  "http.path.startsWith('/orgs/') && !http.path.contains('members')",
  "http.method == 'patch' || (http.method == 'put' && http.path.endsWith('/merge'))",
  "http.scheme == 'http'",
  "http.port == 8443 && http.method == 'get'",
  "http.method == 'post' && http.path == '/graphql' && http.body_json.action == 'delete'",
  "http.path == '/Repos'",
  "http.method == 'get' && http.path.startsWith('/search') && http.headers['x-api-key'][0] == 'k'",
  "agent.name == 'deployer' && http.method in ['post', 'put']",
  "http.method.startsWith('p') && http.host.contains('uploads')",
  "http.body_truncated && http.method == 'post'",
  "http.method == 'get' && sets.intersects(http.headers['accept'], ['application/json'])",
  "http.method != 'get' && http.path == '/'",
  "[http.method].exists(m, m == 'delete') && http.path.startsWith('/repos/')",
  "http.method in ['head', 'options']",
  "http.path.matches('^/repos/[^/]+/[^/]+/pulls$') && http.method == 'post'",
  "http.host.endsWith('githubusercontent.com') || http.host == 'uploads.github.com'",
  "http.method == 'delete' && http.path.startsWith('/repos/') && http.path.endsWith('/hooks')",
  "!(http.method in ['get', 'head']) && http.host == 'api.github.com' && http.path.startsWith('/user')",
  "(http.method == 'get' || http.method == 'head') && http.path.contains('secrets')",
  "(http.method == 'post' && http.path == '/a') || (http.method == 'put' && http.path == '/b')",
  "http.method == 'GET' && http.method == 'POST'",
  "http.method in ['get', 'post'] && http.method in ['post', 'put'] && http.path == '/both'",
  "http.path.matches('^/gists') && http.method == 'delete'",
  "http.path.matches('^/re?pos/') && http.method == 'get'",
  "http.path.matches('^/repos\\\\/[a-z]+/[a-z]+$')",
  "http.path.matches('^/gists|^/orgs') && http.method == 'patch'",
  "http.path.matches('^/a+$')",
  "(http.path.startsWith('/repos/') || http.path.startsWith('/orgs/')) && http.method == 'delete'",
  "http.host.endsWith('.github.com') && http.path.startsWith('/repos/') && http.path.endsWith('/pulls')",
  "http.path in ['/a', '/b'] && http.method in ['post', 'put']",
  "http.path.startsWith('') && http.method == 'options'",
  "http.headers['x-token'][0].startsWith('ghp_')",
  "http.method == 'get'",
  // Membership in a map or list fact: guarded since stop 43, alone and inside disjunctions.
  "'x-token' in http.headers && http.method == 'get'",
  "http.query.exists(q, 'force' == q) || http.path == '/a'",
  "http.path.matches('^/gists') || http.headers.exists(h, h == 'x-api-key')",
  "'force' in http.query || http.method == 'head'",
  "http.path_anomalies.exists(a, a == 'dot_segment') || http.method == 'options'",
  "'dot_segment' in http.path_anomalies && http.method == 'delete'",
];

const SQL_CONDITIONS = [
  "sql.verb == 'SELECT' && 'users' in sql.tables",
  "sql.verbs.exists(v, v in ['drop', 'TRUNCATE'])",
  "sets.intersects(sql.verbs, ['delete', 'update']) && !sql.statement.contains('WHERE')",
  "sql.verb in ['insert', 'update'] && sql.database == 'prod'",
  "sql.dynamic || sql.functions.exists(f, f == 'pg_read_file')",
  "sql.statement.startsWith('SET ') && sql.verb == 'set'",
  "sql.user == 'admin' && sql.verb != 'select'",
  "sql.verb == 'select'",
  "sql.tables.exists(t, t == 'orders') || sql.verb == 'drop'",
];

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)];
}

function httpActions(count: number, seed: number): Action[] {
  const rnd = random(seed);
  const methods = ["get", "post", "put", "delete", "patch", "head", "options", "GET", "Post"];
  const paths = [
    "/",
    "/a",
    "/b",
    "/both",
    "/repos/a/b",
    "/repos/a/b/pulls",
    "/repos/a/b/hooks",
    "/repos/a/b/merge",
    "/orgs/x/members",
    "/orgs/x",
    "/search/code",
    "/user/keys",
    "/graphql",
    "/Repos",
    "/x.json",
    "/admin/secrets",
    "/gists/1",
    "/rpos/x",
    "/aa",
    "",
  ];
  const hosts = ["api.github.com", "uploads.github.com", "raw.githubusercontent.com", "evil.com"];
  const bodies = ["", "secret stuff", '{"action":"delete"}', '{"action":"create"}', "[1]"];
  const headerChoices: Record<string, string> = {
    "X-Admin": "1",
    "x-api-key": "k",
    accept: "application/json",
    "x-token": "ghp_abc",
  };
  const unknowns = [["http.body"], ["http.method"], ["http.path"], ["http.*"], ["http.headers"]];
  const credentials = [undefined, "bearer_token.gh_pat", "bearer_token.gh_bot"];
  const actions: Action[] = [];
  for (let i = 0; i < count; i++) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(headerChoices)) if (rnd() < 0.3) headers[k] = v;
    const action = actionOf("github", {
      http: {
        method: pick(rnd, methods),
        scheme: rnd() < 0.8 ? "https" : "http",
        host: pick(rnd, hosts),
        port: rnd() < 0.8 ? 443 : 8443,
        path: pick(rnd, paths),
        headers,
        query: rnd() < 0.2 ? { force: ["1"] } : {},
        path_anomalies: rnd() < 0.2 ? ["dot_segment"] : [],
        body: pick(rnd, bodies),
        body_truncated: rnd() < 0.1,
      },
    }, {
      credential: pick(rnd, credentials),
      unknown: rnd() < 0.15 ? pick(rnd, unknowns) : undefined,
      agent: { name: rnd() < 0.2 ? "deployer" : "bot", profile: "oncall" },
    });
    const http = action.facts.http as unknown as Record<string, unknown>;
    const shape = rnd();
    // Facts a buggy or partial protocol might produce: guards must not skip on them.
    if (shape < 0.05) action.facts = {};
    else if (shape < 0.08) delete http.method;
    else if (shape < 0.11) delete http.path;
    else if (shape < 0.13) http.method = 42n;
    else if (shape < 0.16) http.method = String(http.method).toUpperCase();
    // Collections of the wrong kind or holding another type: membership guards must not skip.
    else if (shape < 0.18) http.headers = "x-token";
    else if (shape < 0.20) http.query = ["force"];
    else if (shape < 0.22) http.path_anomalies = [7, "other"];
    else if (shape < 0.24) http.query = Object.assign(Object.create({ force: ["1"] }), {});
    else if (shape < 0.26) http.headers = new Map([["x-token", ["t"]]]);
    actions.push(action);
  }
  return actions;
}

function sqlActions(count: number, seed: number): Action[] {
  const rnd = random(seed);
  const verbs = ["select", "insert", "update", "delete", "drop", "truncate", "set"];
  const actions: Action[] = [];
  for (let i = 0; i < count; i++) {
    const stmtVerbs = [pick(rnd, verbs), ...(rnd() < 0.3 ? [pick(rnd, verbs)] : [])];
    const action = actionOf("pg", {
      sql: {
        verb: stmtVerbs[0],
        verbs: stmtVerbs,
        tables: rnd() < 0.5 ? ["users", "public.users"] : ["orders"],
        functions: rnd() < 0.1 ? ["pg_read_file"] : [],
        statement: rnd() < 0.5 ? "SET x = 1" : "DELETE FROM users WHERE id = 1",
        database: rnd() < 0.5 ? "prod" : "dev",
        user: rnd() < 0.3 ? "admin" : "agent",
        dynamic: rnd() < 0.1,
      },
    }, { unknown: rnd() < 0.1 ? pick(rnd, [["sql.*"], ["sql.tables"], ["sql.verb"]]) : undefined });
    const shape = rnd();
    if (shape < 0.05) action.facts = {};
    else if (shape < 0.1) (action.facts.sql as { tables: unknown[] }).tables = [7, "users"];
    actions.push(action);
  }
  return actions;
}

/**
 * The same rules minus `skip`, with every pre-CEL shortcut stripped: only the fields CEL
 * evaluation needs are copied, so guards, index constraints and any later optimisation are gone.
 */
function unguarded(policy: Policy, endpoints: string[], skip = new Set<string>()): Policy {
  const byEndpoint = new Map<string, CompiledRule[]>();
  for (const endpoint of endpoints) {
    byEndpoint.set(
      endpoint,
      policy.rulesFor(endpoint).filter((r) => !skip.has(r.rule.name)).map((r) => ({
        rule: r.rule,
        protocol: r.protocol,
        condition: r.condition,
        evaluate: r.evaluate,
        reads: r.reads,
        guards: [],
      })),
    );
  }
  return new Policy(byEndpoint, "deny", "enforce");
}

/**
 * Oracle for the one place guards may legitimately differ from plain CEL: a rule reading an
 * unknown fact is skipped (rather than denying) when one of its top-level conjuncts that reads
 * only known facts is false, since CEL's `false && error` is false. Checked with CEL itself.
 */
function excludedByKnownFacts(compiled: CompiledRule, action: Action): boolean {
  const env = environmentFor(compiled.protocol);
  const terms: string[] = [];
  // deno-lint-ignore no-explicit-any
  const split = (node: any) => {
    if (node.op === "&&") node.args.forEach(split);
    else terms.push(serialize(node));
  };
  split(env.parse(compiled.condition).ast);
  const ctx = factsContext(compiled.protocol, action.facts, action.agent);
  return terms.some((term) => {
    const parsed = env.parse(term);
    if (readsUnknown(factReads(parsed.ast, SCHEMA), action.unknown ?? [])) return false;
    try {
      return parsed(ctx) === false;
    } catch {
      return false;
    }
  });
}

/** HCL for the generated rule set: every condition above, verdicts and priorities mixed. */
function generatedRules(): { name: string; text: string }[] {
  const rules: { name: string; text: string }[] = [];
  HTTP_CONDITIONS.forEach((condition, i) => {
    const name = `http-${i}`;
    const attrs: Record<string, string | number> = {
      endpoint: "https.github",
      // Spread priorities so both orderings (priority, then declaration) are exercised.
      priority: (i * 7) % 5,
      condition,
      ...(i % 3 === 0
        ? { verdict: "allow" }
        : i % 3 === 1
        ? { verdict: "deny" }
        : { approve: "[human_approver.ops]" }),
    };
    if (i % 8 === 5) attrs.credential = "bearer_token.gh_pat";
    rules.push({ name, text: rule(name, attrs) });
  });
  SQL_CONDITIONS.forEach((condition, i) => {
    const name = `sql-${i}`;
    rules.push({
      name,
      text: rule(name, {
        endpoint: "postgres.pg",
        priority: i % 3,
        condition,
        verdict: i % 2 === 0 ? "deny" : "allow",
      }),
    });
  });
  return rules;
}

const ENDPOINTS = ["github", "pg"];
const ACTIONS = [...httpActions(400, 1), ...sqlActions(150, 2)];

interface Tally {
  matched: Set<string | null>;
  reasons: Set<string>;
  /** Unknown-fact denies a guard legitimately avoided. */
  excused: number;
}

/** Asserts `policy` decides every action as its guard-less copy does (see the oracle above). */
function assertGuardsChangeNothing(policy: Policy, tally: Tally): void {
  const reference = unguarded(policy, ENDPOINTS);
  const byName = new Map(
    ENDPOINTS.flatMap((e) => policy.rulesFor(e)).map((r) => [r.rule.name, r]),
  );
  for (const [i, action] of ACTIONS.entries()) {
    const where = `action ${i}: ${
      JSON.stringify(action, (_, v) => typeof v === "bigint" ? `${v}n` : v)
    }`;
    const got = policy.evaluate(action);
    let want = reference.evaluate(action);
    const skipped = new Set<string>();
    while (!isDeepStrictEqual(got, want)) {
      // Only an unknown-fact deny by a rule that known facts already rule out may be skipped.
      const name = want.outcome.rule;
      const compiled = name === null ? undefined : byName.get(name);
      assert(
        want.outcome.kind === "deny" &&
          /could not be established/.test(want.outcome.detail ?? "") &&
          compiled && excludedByKnownFacts(compiled, action),
        `${where}\nguarded: ${JSON.stringify(got)}\nplain:   ${JSON.stringify(want)}`,
      );
      skipped.add(name!);
      tally.excused++;
      want = unguarded(policy, ENDPOINTS, skipped).evaluate(action);
    }
    assertEquals(got, want, where);
    tally.matched.add(got.outcome.rule);
    if (got.outcome.kind !== "allow") tally.reasons.add(got.outcome.reason);
  }
}

Deno.test("Policy decides exactly as it would with guards stripped, rule by rule (property)", async () => {
  const tally: Tally = { matched: new Set(), reasons: new Set(), excused: 0 };
  const rules = generatedRules();
  let guarded = 0;
  let exact = 0;
  for (const { text } of rules) {
    const policy = await policyOf(text);
    const compiled = ENDPOINTS.flatMap((e) => policy.rulesFor(e));
    guarded += compiled.filter((r) => r.guards.length > 0).length;
    exact += compiled.filter((r) => r.exact).length;
    assertGuardsChangeNothing(policy, tally);
  }
  assert(guarded >= 30, `only ${guarded} rules carry guards: this test would check little`);
  assert(exact >= 40, `only ${exact} rules are decided without CEL: this test would check little`);
  // Every rule must match some generated action, or its guard was never tested against a match.
  // Except the rule that contradicts itself on purpose.
  const never = `http-${HTTP_CONDITIONS.indexOf("http.method == 'GET' && http.method == 'POST'")}`;
  const unmatched = rules.map((r) => r.name).filter((n) => !tally.matched.has(n) && n !== never);
  assertEquals(unmatched, []);
  assert(tally.matched.has(null), "no action fell through to no_match");
  assert(tally.reasons.has(EVALUATION_FAILED), "no action failed evaluation");
  assert(tally.excused > 0, "no guard skipped a rule that reads an unknown fact");
});

Deno.test("Policy decides exactly as it would with guards stripped, all rules together (property)", async () => {
  const tally: Tally = { matched: new Set(), reasons: new Set(), excused: 0 };
  const policy = await policyOf(generatedRules().map((r) => r.text).join(""));
  assertGuardsChangeNothing(policy, tally);
  assert(tally.matched.size >= 15, `only ${tally.matched.size} distinct rules matched`);
  assert(tally.reasons.has(NO_MATCH));
  assert(tally.reasons.has(EVALUATION_FAILED));
});
