// "Block requests like this": the rule generated from a receipt loads as written and denies that
// action and not a neighbouring one, for HTTP, SQL and Kubernetes facts, whatever an agent put
// in the path (quotes, backslashes, HCL template markers, control characters).
import { deepStrictEqual as assertEquals, equal, ok } from "node:assert/strict";
import type { Receipt } from "../src/core/mod.ts";
import { blockRuleText, celString, hclString } from "../src/dashboard/_block_rule.ts";
import { actionOf, policyOf } from "../src/policy/_testing.ts";

function receipt(endpoint: string, protocol: string, facts: unknown): Receipt {
  return {
    id: "rcpt_01M9ABCDEFXYZ7",
    endpoint,
    protocol,
    facts,
    agent: "bot",
  } as unknown as Receipt;
}

/** The rule for `facts` on `endpoint`, compiled with an allow-everything rule below it. */
async function generated(endpoint: string, protocol: string, facts: Record<string, unknown>) {
  const text = blockRuleText(receipt(endpoint, protocol, facts), { priority: 5 });
  ok(text !== null);
  const policy = await policyOf(`${text}
rule "everything" {
  endpoints = [https.github, postgres.pg, kubernetes.k8s]
  condition = "true"
  verdict   = "allow"
}
`.replace(
    /endpoints = \[[^\]]*\]/,
    `endpoint = ${protocol}.${endpoint}`,
  ));
  return {
    text,
    decide: (f: Record<string, Record<string, unknown>>) => policy.decide(actionOf(endpoint, f)),
  };
}

Deno.test("the generated HTTP rule denies that method and path exactly, hostile text included", async () => {
  const path = `/repos/it's "x"\\y/\${env.HOME}/%{if}<script>\u0001`;
  const { text, decide } = await generated("github", "https", {
    http: { method: "delete", path, host: "api.github.com" },
  });
  ok(text.startsWith('rule "block-github-efxyz7"'), text);
  const denied = decide({ http: { method: "delete", path, host: "api.github.com" } });
  assertEquals([denied.decision, denied.rule], ["deny", "block-github-efxyz7"]);
  equal(denied.reason, "Blocked from the dashboard (like receipt rcpt_01M9ABCDEFXYZ7)");
  equal(decide({ http: { method: "get", path } }).decision, "allow");
  equal(decide({ http: { method: "delete", path: "/repos/other" } }).decision, "allow");
});

Deno.test("the generated SQL rule denies that statement kind on those tables", async () => {
  const { text, decide } = await generated("pg", "postgres", {
    sql: { verb: "drop", verbs: ["drop"], tables: ["users", "public.users"] },
  });
  ok(text.includes(`sets.contains(sql.tables, ['users', 'public.users'])`), text);
  equal(decide({ sql: { verb: "drop", tables: ["public.users", "users"] } }).decision, "deny");
  equal(decide({ sql: { verb: "drop", tables: ["orders"] } }).decision, "allow");
  equal(decide({ sql: { verb: "select", tables: ["users", "public.users"] } }).decision, "allow");
});

Deno.test("the generated Kubernetes rule denies that verb on that resource in that namespace", async () => {
  const k8s = { verb: "delete", resource: "deployments", namespace: "prod", name: "web" };
  const { decide } = await generated("k8s", "kubernetes", { k8s, http: { method: "delete" } });
  equal(decide({ k8s }).decision, "deny");
  // Any deployment there, not only `web`: the action's kind, not one object.
  equal(decide({ k8s: { ...k8s, name: "api" } }).decision, "deny");
  equal(decide({ k8s: { ...k8s, namespace: "dev" } }).decision, "allow");
  equal(decide({ k8s: { ...k8s, verb: "get" } }).decision, "allow");
});

Deno.test("no rule is generated for a receipt the gateway refused before any rule", () => {
  equal(blockRuleText(receipt("x", "gateway", { http: {} }), { priority: 1 }), null);
  equal(blockRuleText({ ...receipt("x", "https", {}), endpoint: null }, { priority: 1 }), null);
  equal(blockRuleText(receipt("x", "https", {}), { priority: 1 }), null);
});

Deno.test("celString and hclString escape what would end the literal or start a template", () => {
  equal(celString(`a'b\\c\n`), `'a\\'b\\\\c\\u000a'`);
  equal(hclString(`\${x} %{y} "q" \\`), `"$\${x} %%{y} \\"q\\" \\\\"`);
});
