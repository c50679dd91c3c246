import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import type { Action } from "../core/mod.ts";
import { APPROVAL_REQUIRED, EVALUATION_FAILED, NO_MATCH, verdictOf } from "./policy.ts";
import { actionOf, http, policyOf, rule, sql } from "./_testing.ts";

const ALLOW_ALL = rule("allow-all", {
  endpoint: "https.github",
  priority: -100,
  condition: "true",
  verdict: "allow",
});

// Ordering -----------------------------------------------------------------------------------

Deno.test("decide() tries higher-priority rules first, whatever the declaration order", async () => {
  const policy = await policyOf(
    rule("low", { endpoint: "https.github", verdict: "allow" }) +
      rule("high", { endpoint: "https.github", priority: 10, verdict: "deny" }) +
      rule("negative", { endpoint: "https.github", priority: -5, verdict: "deny" }),
  );
  assertEquals(policy.rulesFor("github").map((r) => r.rule.name), ["high", "low", "negative"]);
  assertEquals(policy.decide(http({ method: "get" })).rule, "high");
});

Deno.test("decide() keeps declaration order between rules of equal priority", async () => {
  const policy = await policyOf(
    rule("first", { endpoint: "https.github", priority: 5, verdict: "allow" }) +
      rule("second", { endpoint: "https.github", priority: 5, verdict: "deny" }) +
      rule("third", { endpoint: "https.github", priority: 5, verdict: "deny" }),
  );
  assertEquals(policy.rulesFor("github").map((r) => r.rule.name), ["first", "second", "third"]);
  const verdict = policy.decide(http({ method: "get" }));
  assertEquals([verdict.rule, verdict.decision], ["first", "allow"]);
});

Deno.test("decide() stops at the first matching rule", async () => {
  const policy = await policyOf(
    rule("no-delete", {
      endpoint: "https.github",
      priority: 10,
      condition: "http.method == 'delete'",
      verdict: "deny",
    }) +
      rule("reads", {
        endpoint: "https.github",
        priority: 5,
        condition: "http.method == 'get'",
        verdict: "allow",
      }) +
      rule("catch-all", { endpoint: "https.github", verdict: "deny", reason: "nope" }),
  );
  assertEquals(policy.decide(http({ method: "delete" })).rule, "no-delete");
  assertEquals(policy.decide(http({ method: "get" })).rule, "reads");
  assertEquals(policy.decide(http({ method: "get" })).decision, "allow");
  assertEquals(policy.decide(http({ method: "post" })).rule, "catch-all");
});

Deno.test("decide() applies a rule attached to several endpoints on each, in that endpoint's order", async () => {
  const policy = await policyOf(
    rule("shared", {
      endpoints: "[https.github, https.openai]",
      priority: 5,
      condition: "http.method == 'delete'",
      verdict: "deny",
      reason: "no deletes",
    }) +
      rule("github-first", {
        endpoint: "https.github",
        priority: 10,
        condition: "http.path == '/ok'",
        verdict: "allow",
      }),
  );
  const onOpenai = actionOf("openai", { http: { method: "delete", path: "/ok" } });
  const onGithub = actionOf("github", { http: { method: "delete", path: "/ok" } });
  assertEquals(policy.decide(onOpenai).rule, "shared");
  assertEquals(policy.decide(onOpenai).reason, "no deletes");
  assertEquals(policy.decide(onGithub).rule, "github-first");
  assertEquals(policy.decide(actionOf("github", { http: { method: "delete" } })).rule, "shared");
  // Rules never leak to endpoints they are not attached to.
  assertEquals(policy.rulesFor("pg").length, 0);
});

Deno.test("decide() skips a rule for another credential without evaluating its condition", async () => {
  const policy = await policyOf(
    rule("pat-only", {
      endpoint: "https.github",
      priority: 10,
      credential: "bearer_token.gh_pat",
      // Errors at run time: had it been evaluated, the action would be denied.
      condition: "http.headers['x-missing'][0] == 'a'",
      verdict: "deny",
    }) + ALLOW_ALL,
  );
  const bot = policy.decide(http({ method: "get" }, { credential: "bearer_token.gh_bot" }));
  assertEquals([bot.decision, bot.rule], ["allow", "allow-all"]);
  const none = policy.decide(http({ method: "get" }));
  assertEquals([none.decision, none.rule], ["allow", "allow-all"]);
  const pat = policy.decide(http({ method: "get" }, { credential: "bearer_token.gh_pat" }));
  assertEquals([pat.decision, pat.rule, pat.reason], ["deny", "pat-only", EVALUATION_FAILED]);
});

Deno.test("decide() lets kubernetes rules match on http facts", async () => {
  const policy = await policyOf(
    rule("no-exec", {
      endpoint: "kubernetes.k8s",
      condition: "k8s.verb == 'create' && k8s.subresource == 'exec' && http.method == 'POST'",
      verdict: "deny",
    }),
  );
  const exec = actionOf("k8s", {
    k8s: { verb: "create", subresource: "exec", resource: "pods" },
    http: { method: "POST", path: "/api/v1/namespaces/x/pods/y/exec" },
  });
  assertEquals(policy.decide(exec).rule, "no-exec");
  const get = actionOf("k8s", { k8s: { verb: "get" }, http: { method: "get" } });
  assertEquals(policy.decide(get).rule, null);
});

Deno.test("decide() lets every rule read the agent", async () => {
  const policy = await policyOf(
    rule("ci-only", {
      endpoint: "postgres.pg",
      condition: "agent.profile == 'ci' && sql.verb == 'select'",
      verdict: "allow",
    }),
  );
  const agent = { name: "runner", profile: "ci" };
  assertEquals(policy.decide(sql({ verb: "select" }, { agent })).decision, "allow");
  assertEquals(policy.decide(sql({ verb: "select" })).decision, "deny");
});

// Outcomes -----------------------------------------------------------------------------------

Deno.test("decide() allows with the matching allow rule", async () => {
  const policy = await policyOf(ALLOW_ALL);
  assertEquals(policy.decide(http({ method: "get" })), {
    decision: "allow",
    wouldBe: "allow",
    mode: "enforce",
    rule: "allow-all",
    reason: "allowed",
  });
});

Deno.test("decide() denies with the matching rule's reason", async () => {
  const policy = await policyOf(
    rule("pg-no-ddl", {
      endpoint: "postgres.pg",
      condition: "sql.verbs.exists(v, v in ['drop', 'truncate'])",
      verdict: "deny",
      reason: "Schema changes land via migration PR",
    }) +
      rule("unexplained", {
        endpoint: "postgres.pg",
        condition: "sql.verb == 'delete'",
        verdict: "deny",
      }),
  );
  assertEquals(policy.decide(sql({ verbs: ["select", "DROP"] })), {
    decision: "deny",
    wouldBe: "deny",
    mode: "enforce",
    rule: "pg-no-ddl",
    reason: "Schema changes land via migration PR",
  });
  assertEquals(policy.decide(sql({ verb: "delete" })).reason, "denied by rule 'unexplained'");
});

Deno.test("decide() holds an approve rule as a deny with 'approval required', carrying the rule", async () => {
  const policy = await policyOf(
    rule("github-writes", {
      endpoint: "https.github",
      condition: "http.method in ['post', 'put', 'patch', 'delete']",
      approve: "[human_approver.ops]",
    }) + ALLOW_ALL,
  );
  const action = http({ method: "PUT" });
  assertEquals(policy.evaluate(action).outcome, {
    kind: "approve",
    rule: "github-writes",
    chain: ["human_approver.ops"],
    reason: APPROVAL_REQUIRED,
    because: "denied by rule 'github-writes'",
  });
  const verdict = policy.decide(action);
  assertEquals(verdict.decision, "deny");
  assertEquals(verdict.reason, APPROVAL_REQUIRED);
  assertEquals(verdict.reason, "approval required");
  assertEquals(verdict.rule, "github-writes");
  assertEquals(policy.decide(http({ method: "get" })).rule, "allow-all");
});

Deno.test("decide() denies with NO_MATCH when no rule matches and defaults.no_match is unset", async () => {
  const policy = await policyOf(
    rule("reads", {
      endpoint: "https.github",
      condition: "http.method == 'get'",
      verdict: "allow",
    }),
  );
  const verdict = policy.decide(http({ method: "post" }));
  assertEquals(verdict, {
    decision: "deny",
    wouldBe: "deny",
    mode: "enforce",
    rule: null,
    reason: NO_MATCH,
  });
  // An endpoint without any rule falls to the default too.
  assertEquals(policy.decide(actionOf("openai", { http: {} })).reason, NO_MATCH);
});

Deno.test("decide() allows when no rule matches and defaults.no_match = allow", async () => {
  const policy = await policyOf(
    `defaults {\n  no_match = "allow"\n}\n` +
      rule("no-delete", {
        endpoint: "https.github",
        condition: "http.method == 'delete'",
        verdict: "deny",
      }),
  );
  const verdict = policy.decide(http({ method: "post" }));
  assertEquals([verdict.decision, verdict.rule], ["allow", null]);
  assertEquals(policy.decide(http({ method: "delete" })).decision, "deny");
});

Deno.test("decide() denies an action on an endpoint the policy does not know", async () => {
  const policy = await policyOf(`defaults {\n  no_match = "allow"\n}\n` + ALLOW_ALL);
  const unknownEndpoint: Action = { ...http({ method: "get" }), endpoint: "nowhere" };
  assertEquals(policy.decide(unknownEndpoint).decision, "deny");
  const noEndpoint: Action = { ...http({ method: "get" }), endpoint: null };
  assertEquals(policy.decide(noEndpoint).decision, "deny");
  assertEquals(policy.decide(noEndpoint).rule, null);
});

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

// Modes --------------------------------------------------------------------------------------

Deno.test("decide() allows what an observe-mode rule would deny, recording the would-be verdict", async () => {
  const policy = await policyOf(
    rule("new-rule", {
      endpoint: "https.github",
      condition: "http.method == 'delete'",
      verdict: "deny",
      reason: "trying this out",
      mode: "observe",
    }),
  );
  assertEquals(policy.decide(http({ method: "delete" })), {
    decision: "allow",
    wouldBe: "deny",
    mode: "observe",
    rule: "new-rule",
    reason: "trying this out",
  });
  // Actions the observe rule does not match still meet the (enforced) default.
  const other = policy.decide(http({ method: "get" }));
  assertEquals([other.decision, other.mode], ["deny", "enforce"]);
});

Deno.test("decide() never lets an observe-mode rule weaken an enforced deny below it", async () => {
  const policy = await policyOf(
    rule("trial-allow", {
      endpoint: "https.github",
      priority: 100,
      condition: "http.method == 'delete'",
      verdict: "allow",
      mode: "observe",
    }) +
      rule("no-delete", {
        endpoint: "https.github",
        condition: "http.method == 'delete'",
        verdict: "deny",
        reason: "deletes are off",
      }),
  );
  const verdict = policy.decide(http({ method: "delete" }));
  assertEquals(
    [verdict.decision, verdict.wouldBe, verdict.mode, verdict.rule, verdict.reason],
    ["deny", "allow", "enforce", "no-delete", "deletes are off"],
  );
  assertEquals(verdict.detail, "observe rule 'trial-allow' would allow");
});

Deno.test("decide() allows an observe-mode rule that fails to evaluate, recording a deny", async () => {
  const policy = await policyOf(
    rule("flaky", {
      endpoint: "https.github",
      condition: "http.headers['x-missing'][0] == 'a'",
      verdict: "deny",
      mode: "observe",
    }),
  );
  const verdict = policy.decide(http({}));
  assertEquals([verdict.decision, verdict.wouldBe, verdict.mode, verdict.rule], [
    "allow",
    "deny",
    "observe",
    "flaky",
  ]);
});

Deno.test("decide() in a gateway in observe mode never blocks, but records every would-be deny", async () => {
  const policy = await policyOf(
    `gateway {\n  mode = "observe"\n}\n` +
      rule("no-delete", {
        endpoint: "https.github",
        priority: 10,
        condition: "http.method == 'delete'",
        verdict: "deny",
        mode: "enforce",
      }) +
      rule("broken", {
        endpoint: "https.github",
        priority: 5,
        condition: "http.method == 'put' && http.headers['x-missing'][0] == 'a'",
        verdict: "allow",
      }) +
      rule("writes", {
        endpoint: "https.github",
        priority: 1,
        condition: "http.method == 'post'",
        approve: "[human_approver.ops]",
      }) +
      rule("reads", {
        endpoint: "https.github",
        condition: "http.method == 'get'",
        verdict: "allow",
      }),
  );
  const cases: [string, string | null, string][] = [
    ["delete", "no-delete", "denied by rule 'no-delete'"],
    ["put", "broken", EVALUATION_FAILED],
    ["post", "writes", APPROVAL_REQUIRED],
    ["patch", null, NO_MATCH],
  ];
  for (const [method, ruleName, reason] of cases) {
    const verdict = policy.decide(http({ method }));
    assertEquals(
      [verdict.decision, verdict.wouldBe, verdict.mode, verdict.rule, verdict.reason],
      ["allow", "deny", "observe", ruleName, reason],
      method,
    );
  }
  const read = policy.decide(http({ method: "get" }));
  assertEquals([read.decision, read.wouldBe, read.mode], ["allow", "allow", "observe"]);
});

Deno.test("decide() enforces by default", async () => {
  const policy = await policyOf(
    rule("no-delete", {
      endpoint: "https.github",
      condition: "http.method == 'delete'",
      verdict: "deny",
    }),
  );
  const verdict = policy.decide(http({ method: "delete" }));
  assertEquals([verdict.decision, verdict.wouldBe, verdict.mode], ["deny", "deny", "enforce"]);
});

Deno.test("verdictOf() keeps operator detail out of allows and into denies", () => {
  const deny = verdictOf(
    { kind: "deny", rule: "r", reason: EVALUATION_FAILED, detail: "boom" },
    "enforce",
  );
  assertEquals(deny.detail, "boom");
  const observed = verdictOf({ kind: "deny", rule: "r", reason: "x", detail: "boom" }, "observe");
  assertEquals([observed.decision, observed.wouldBe, observed.detail], ["allow", "deny", "boom"]);
  const allow = verdictOf({ kind: "allow", rule: null }, "enforce");
  assertEquals("detail" in allow, false);
});

// Misplaced placeholders ---------------------------------------------------------------------

Deno.test("decide() denies a misplaced placeholder before any rule, even an allow-all", async () => {
  const policy = await policyOf(ALLOW_ALL);
  const verdict = policy.decide(http({ method: "get", misplaced_placeholders: ["gh_bot"] }));
  assertEquals([verdict.decision, verdict.rule], ["deny", null]);
  assertMatch(verdict.reason, /'gh_bot'/);
  // The same request without the misplaced placeholder is allowed by the rule.
  assertEquals(
    policy.decide(http({ method: "get", misplaced_placeholders: [] })).decision,
    "allow",
  );
});

Deno.test("decide() leaves misplaced placeholders to the rules when defaults.misplaced_placeholder = allow", async () => {
  const policy = await policyOf(`defaults {\n  misplaced_placeholder = "allow"\n}\n` + ALLOW_ALL);
  const verdict = policy.decide(http({ method: "get", misplaced_placeholders: ["gh_bot"] }));
  assertEquals([verdict.decision, verdict.rule], ["allow", "allow-all"]);
});

Deno.test("decide() in observe mode records a misplaced placeholder as a would-be deny", async () => {
  const policy = await policyOf(`gateway {\n  mode = "observe"\n}\n` + ALLOW_ALL);
  const verdict = policy.decide(http({ method: "get", misplaced_placeholders: ["gh_pat"] }));
  assertEquals([verdict.decision, verdict.wouldBe], ["allow", "deny"]);
});

Deno.test("reads() tells whether any rule on an endpoint reads a fact, directly or via the family", async () => {
  const policy = await policyOf(
    rule("by-param", {
      endpoint: "postgres.pg",
      condition: "sql.params.exists(p, p == 'x')",
      verdict: "deny",
    }) +
      rule("by-verb", {
        endpoint: "kubernetes.k8s",
        condition: "k8s.verb == 'get'",
        verdict: "deny",
      }),
  );
  assert(policy.reads("pg", "sql.params"));
  assert(!policy.reads("k8s", "sql.params"));
  assert(policy.reads("k8s", "k8s.verb"));
  assert(!policy.reads("k8s", "k8s.name"));
  assert(!policy.reads("nowhere", "sql.params"));
});
