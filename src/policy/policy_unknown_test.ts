import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Action } from "../core/mod.ts";
import { unknownPlaceholderReason } from "./policy.ts";
import { completeFacts } from "./complete.ts";
import { http, policyOf, rule } from "./_testing.ts";
import { protocolOf } from "../protocols/registry.ts";

const ALLOW_ALL = rule("allow-all", {
  endpoint: "https.github",
  priority: -100,
  condition: "true",
  verdict: "allow",
});

const TEMPLATES = `endpoint "https" "templates" {
  hosts                = ["templates.test"]
  unknown_placeholders = "allow"
}
`;

/** An https action on endpoint `templates` (declared by {@linkcode TEMPLATES}). */
function templates(httpFacts: Record<string, unknown>): Action {
  return {
    protocol: "https",
    endpoint: "templates",
    agent: { name: "bot", profile: "oncall" },
    facts: completeFacts(protocolOf("https")!, { http: httpFacts }),
    summary: "test action",
  };
}

Deno.test("decide() denies placeholder-shaped text naming no credential before any rule, naming the text", async () => {
  const policy = await policyOf(ALLOW_ALL);
  const verdict = policy.decide(http({ method: "get", unknown_placeholders: ["{{nope}}"] }));
  assertEquals([verdict.decision, verdict.rule, verdict.mode], ["deny", null, "enforce"]);
  assertEquals(
    verdict.reason,
    "placeholder '{{nope}}' names no credential configured on the gateway",
  );
  // The operator learns which setting leaves such text to the rules.
  assertEquals(
    verdict.detail,
    `endpoint 'github' has unknown_placeholders = "deny"; set it to "allow" if its upstream expects such text`,
  );
  assertEquals(policy.decide(http({ method: "get", unknown_placeholders: [] })).decision, "allow");
});

Deno.test("decide() leaves unknown placeholders to the rules where the endpoint sets unknown_placeholders = allow, and rules can read them", async () => {
  const policy = await policyOf(
    TEMPLATES +
      rule("no-secret-templates", {
        endpoint: "https.templates",
        priority: 10,
        condition: "http.unknown_placeholders.exists(p, p.startsWith('{{secret'))",
        verdict: "deny",
        reason: "no secret templates",
      }) +
      rule("templates-all", { endpoint: "https.templates", condition: "true", verdict: "allow" }),
  );
  const allowed = policy.decide(templates({ method: "post", unknown_placeholders: ["{{name}}"] }));
  assertEquals([allowed.decision, allowed.rule], ["allow", "templates-all"]);
  const denied = policy.decide(templates({ unknown_placeholders: ["{{secret_x}}"] }));
  assertEquals([denied.decision, denied.rule], ["deny", "no-secret-templates"]);
});

Deno.test("decide() in observe mode records unknown placeholders as a would-be deny", async () => {
  const policy = await policyOf(`gateway {\n  mode = "observe"\n}\n` + ALLOW_ALL);
  const verdict = policy.decide(http({ method: "get", unknown_placeholders: ["{{nope}}"] }));
  assertEquals([verdict.decision, verdict.wouldBe], ["allow", "deny"]);
});

Deno.test("unknownPlaceholderReason() names up to three texts and counts the rest", () => {
  assertEquals(
    unknownPlaceholderReason(["{{a_x}}", "{{b_x}}"]),
    "placeholders '{{a_x}}', '{{b_x}}' name no credential configured on the gateway",
  );
  assertEquals(
    unknownPlaceholderReason(["{{a_x}}", "{{b_x}}", "{{c_x}}", "{{d_x}}", "{{e_x}}"]),
    "placeholders '{{a_x}}', '{{b_x}}', '{{c_x}}' and 2 more name no credential configured on the gateway",
  );
});
