import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { APPROVAL_REQUIRED, EVALUATION_FAILED, NO_MATCH, verdictOf } from "./policy.ts";
import { http, policyOf, rule } from "./_testing.ts";
import { ALLOW_ALL } from "./_policy_testing.ts";

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
