import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { FactsDeriver } from "./fixtures.ts";
import { replayCase } from "./fixtures.ts";
import { configOf, rule } from "./_testing.ts";
import { compilePolicy } from "./compile.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

// Each rule reads one http fact a `request:` sets, so a verdict shows what the request became.
const RULES = rule("body", {
  endpoint: "https.github",
  priority: 30,
  condition:
    "type(http.body_json) == map && http.body_json.title == 'x' && http.body == '{\"title\":\"x\"}'",
  verdict: "deny",
}) + rule("query", {
  endpoint: "https.github",
  priority: 20,
  condition:
    "'state' in http.query && http.query.state == ['open', 'closed'] && http.raw_path == '/repos/a/b/pulls'",
  verdict: "deny",
}) + rule("reads", {
  endpoint: "https.github",
  priority: 10,
  condition: "http.method == 'get' && http.path == '/repos/a/b/pulls'",
  verdict: "allow",
});

async function setup() {
  const config = await configOf(RULES);
  return { config, policy: compilePolicy(config, { protocols: PROTOCOLS }) };
}

Deno.test("replayCase() turns a request into http facts without a deriver", async () => {
  const { config, policy } = await setup();
  const replay = (request: unknown, facts?: unknown) =>
    replayCase({
      endpoint: "github",
      request,
      ...(facts ? { facts } : {}),
      expect: { verdict: "allow" },
    }, { config, policy });
  assertEquals(replay({ method: "GET", path: "/repos/a/b/pulls" }).rule, "reads");
  assertEquals(
    replay({ method: "GET", path: "/repos/a/b/pulls", query: { state: ["open", "closed"] } }).rule,
    "query",
  );
  assertEquals(
    replay({ method: "POST", path: "/repos/a/b/pulls", body: { title: "x" } }).rule,
    "body",
  );
  // Explicit facts win over the request, field by field.
  assertEquals(
    replay({ method: "GET", path: "/repos/a/b/pulls" }, { http: { path: "/" } }).rule,
    null,
  );
});

Deno.test("replayCase() hands the request's facts to the deriver and fails the case when it throws", async () => {
  const { config, policy } = await setup();
  const seen: unknown[] = [];
  const derive: FactsDeriver = (_family, facts) => {
    seen.push(facts);
    throw new TypeError("Cannot derive: broken");
  };
  const result = replayCase(
    {
      name: "throws",
      endpoint: "github",
      request: { method: "DELETE", path: "/x", query: { a: "1" } },
      expect: { verdict: "deny" },
    },
    { config, policy, derive },
  );
  assertEquals(result, { name: "throws", ok: false, rule: null, problem: "Cannot derive: broken" });
  assertEquals(JSON.parse(JSON.stringify(seen)), [
    { http: { method: "DELETE", path: "/x", raw_path: "/x", query: { a: ["1"] } } },
  ]);
});
