import {
  deepStrictEqual as assertEquals,
  notDeepStrictEqual as assertNotEquals,
} from "node:assert/strict";
import type { Action, HttpFacts } from "../core/mod.ts";
import { approvalRequest, canonicalJson, fingerprint } from "./request.ts";

function action(over: Partial<HttpFacts> = {}, agent = "bot"): Action {
  const http: HttpFacts = {
    method: "post",
    scheme: "https",
    host: "api.github.com",
    port: 443,
    path: "/repos/acme/api/issues",
    raw_path: "/repos/acme/api/issues",
    canonical_path: "/repos/acme/api/issues",
    path_anomalies: [],
    effective_method: "post",
    query: {},
    headers: { "user-agent": ["curl/8"] },
    body: '{"title":"x"}',
    body_json: { title: "x" },
    body_truncated: false,
    graphql: { operation_types: [], operation_name: "", fields: [] },
    placeholders: [],
    misplaced_placeholders: [],
    unknown_placeholders: [],
    ...over,
  };
  return {
    protocol: "https",
    endpoint: "github",
    agent: { name: agent, profile: "default" },
    facts: { http },
    summary: "POST api.github.com/repos/acme/api/issues",
  };
}

Deno.test("fingerprint() is the same for the same request, whatever its headers", () => {
  assertEquals(fingerprint(action()), fingerprint(action({ headers: { "x-other": ["1"] } })));
  assertEquals(fingerprint(action()).length, 64);
});

Deno.test("fingerprint() changes with the body, the path, the method or the agent", () => {
  const base = fingerprint(action());
  assertNotEquals(fingerprint(action({ body: '{"title":"y"}' })), base);
  assertNotEquals(fingerprint(action({ path: "/repos/acme/other/issues" })), base);
  assertNotEquals(fingerprint(action({ method: "put" })), base);
  assertNotEquals(fingerprint(action({}, "other-bot")), base);
});

Deno.test("canonicalJson() sorts keys at every level and writes bigints as strings", () => {
  assertEquals(canonicalJson({ b: 1, a: { d: 2n, c: [3] } }), '{"a":{"c":[3],"d":"2"},"b":1}');
});

Deno.test("approvalRequest() carries the rule, reason and a fresh id", () => {
  const a = approvalRequest(action(), "writes", "needs a human", {});
  const b = approvalRequest(action(), "writes", "needs a human", {});
  assertEquals([a.rule, a.reason, a.endpoint, a.fingerprint], [
    "writes",
    "needs a human",
    "github",
    b.fingerprint,
  ]);
  assertNotEquals(a.id, b.id);
});
