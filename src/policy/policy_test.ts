import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Action } from "../core/mod.ts";
import { APPROVAL_REQUIRED, EVALUATION_FAILED, NO_MATCH } from "./policy.ts";
import { actionOf, http, policyOf, rule, sql } from "./_testing.ts";
import { ALLOW_ALL } from "./_policy_testing.ts";

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
