import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import type { Action } from "../../core/mod.ts";
import { policyOf, rule } from "../../policy/_testing.ts";
import { httpFacts, type HttpRequestInput, MethodRejected, PathRejected } from "./facts.ts";

const encoder = new TextEncoder();

function request(overrides: Partial<HttpRequestInput> = {}): HttpRequestInput {
  return {
    method: "GET",
    scheme: "https",
    host: "api.github.com",
    port: 443,
    target: "/",
    headers: [],
    body: new Uint8Array(),
    bodyTruncated: false,
    ...overrides,
  };
}

Deno.test("httpFacts() lowercases method, scheme and host and makes the port a bigint", () => {
  const { facts } = httpFacts(
    request({ method: "post", scheme: "https", host: "API.GitHub.COM", port: 8443 }),
  );
  assertEquals(
    [facts.method, facts.scheme, facts.host, facts.port],
    ["post", "https", "api.github.com", 8443],
  );
  // A plain number: the receipt's JSON takes V8's fast path (policy makes it a CEL int).
  assertEquals(typeof facts.port, "number");
});

Deno.test("httpFacts() strips trailing dots from the host", () => {
  assertEquals(httpFacts(request({ host: "API.github.com." })).facts.host, "api.github.com");
  assertEquals(httpFacts(request({ host: "api.github.com.." })).facts.host, "api.github.com");
});

Deno.test("httpFacts() exposes the normalised path and forwards exactly that", () => {
  const out = httpFacts(request({ target: "/repos/x/%2e%2E/y//pulls/./1?state=open&q=a%2Fb" }));
  assertEquals(out.facts.path, "/repos/y/pulls/1");
  assertEquals(out.facts.raw_path, "/repos/x/%2e%2E/y//pulls/./1");
  assertEquals(out.upstreamTarget, "/repos/y/pulls/1?state=open&q=a%2Fb");
  assertEquals(httpFacts(request({ target: "/a/../b" })).upstreamTarget, "/b");
  assertEquals(httpFacts(request({ target: "/a?" })).upstreamTarget, "/a");
});

Deno.test("httpFacts() passes allowEncodedSlash through and rejects bad paths", () => {
  assertThrows(() => httpFacts(request({ target: "/a%2fb" })), PathRejected);
  assertEquals(
    httpFacts(request({ target: "/a%2fb", allowEncodedSlash: true })).facts.path,
    "/a%2Fb",
  );
  assertThrows(() => httpFacts(request({ target: "/a#b" })), PathRejected);
});

const QUERIES: [query: string, expected: Record<string, string[]>][] = [
  ["", {}],
  ["a=1", { a: ["1"] }],
  ["a=1&b=2&a=3", { a: ["1", "3"], b: ["2"] }],
  ["q=hello+world%21", { q: ["hello world!"] }],
  ["n%61me=v%41l", { name: ["vAl"] }],
  ["k=%2B&k=%26&k=%3D", { k: ["+", "&", "="] }],
  ["k=caf%C3%A9", { k: ["café"] }],
  ["a=b=c", { a: ["b=c"] }],
  ["flag", { flag: [""] }],
  ["flag=", { flag: [""] }],
  ["=v", { "": ["v"] }],
  ["a=1&&b=2&", { a: ["1"], b: ["2"] }],
  // Undecodable text stays raw, `+` included.
  ["x=%zz", { x: ["%zz"] }],
  ["x=a+%e9", { x: ["a+%e9"] }],
  ["%zz=1", { "%zz": ["1"] }],
];

Deno.test("httpFacts() decodes the query form-style, collecting repeated keys", async (t) => {
  for (const [query, expected] of QUERIES) {
    await t.step(JSON.stringify(query), () => {
      const { facts } = httpFacts(request({ target: query ? `/p?${query}` : "/p" }));
      assertEquals({ ...facts.query }, expected);
    });
  }
});

Deno.test("httpFacts() keeps __proto__ and constructor query keys as plain keys", () => {
  const { facts } = httpFacts(
    request({ target: "/?__proto__=x&constructor=y&toString=z&__proto__=w" }),
  );
  assertEquals(Object.getPrototypeOf(facts.query), null);
  assert(Object.hasOwn(facts.query, "__proto__"));
  assertEquals(facts.query["__proto__"], ["x", "w"]);
  assertEquals(facts.query["constructor"], ["y"]);
  assertEquals(facts.query["toString"], ["z"]);
  assertEquals(Object.keys(facts.query), ["__proto__", "constructor", "toString"]);
  // Nothing leaked into the shared prototype.
  assertEquals(({} as Record<string, unknown>)["x"], undefined);
  assertEquals(Object.getPrototypeOf({}), Object.prototype);
  assertEquals(Object.hasOwn(Object.prototype, "0"), false);
});

Deno.test("httpFacts() lowercases header names and keeps every value in order", () => {
  const { facts } = httpFacts(request({
    headers: [
      ["Accept", "text/html"],
      ["X-Trace", "1"],
      ["x-trace", "2"],
      ["X-TRACE", "3"],
      ["__proto__", "p"],
    ],
  }));
  assertEquals(Object.getPrototypeOf(facts.headers), null);
  assertEquals({ ...facts.headers }, {
    accept: ["text/html"],
    "x-trace": ["1", "2", "3"],
    ["__proto__"]: ["p"],
  });
});

const BODIES: [name: string, contentType: string | null, body: string, json: unknown][] = [
  ["application/json", "application/json", '{"a":[1,2]}', { a: [1, 2] }],
  ["JSON content type in any case", "Application/JSON", '{"a":1}', { a: 1 }],
  ["+json with parameters", "application/vnd.api+json; charset=utf-8", '{"data":{}}', {
    data: {},
  }],
  ["JSON content type parses scalars", "application/json", '"text"', "text"],
  ["no content type, object", null, '  {"a":1}', { a: 1 }],
  ["no content type, array", null, "\n[1]", [1]],
  ["no content type, not JSON-looking", null, "a=1", null],
  ["no content type, scalar", null, "42", null],
  ["invalid JSON", "application/json", '{"a":', null],
  ["invalid JSON without content type", null, "{nope}", null],
  ["empty body", "application/json", "", null],
  // Many APIs parse JSON whatever the content type says: rules must still see it.
  ["JSON sent as text/plain", "text/plain", '{"a":1}', { a: 1 }],
  ["form body", "application/x-www-form-urlencoded", "a=1&b=2", null],
  ["not a +json type", "application/jsonx", '"x"', null],
  [
    "__proto__ key stays data",
    "application/json",
    '{"__proto__":{"x":1}}',
    JSON.parse(
      '{"__proto__":{"x":1}}',
    ),
  ],
];

Deno.test("httpFacts() parses body_json from JSON bodies and leaves null otherwise", async (t) => {
  for (const [name, contentType, body, json] of BODIES) {
    await t.step(name, () => {
      const headers: [string, string][] = contentType ? [["Content-Type", contentType]] : [];
      const { facts, unknown } = httpFacts(
        request({ method: "POST", headers, body: encoder.encode(body) }),
      );
      assertEquals(facts.body, body);
      assertEquals(facts.body_json, json);
      assertEquals(unknown, []);
    });
  }
});

Deno.test("httpFacts() parses JSON when any of several content types is JSON", () => {
  const { facts } = httpFacts(request({
    headers: [["content-type", "text/plain"], ["Content-Type", "application/json"]],
    body: encoder.encode("7"),
  }));
  assertEquals(facts.body_json, 7);
});

Deno.test("httpFacts() decodes the body as UTF-8 with replacement characters", () => {
  const { facts } = httpFacts(request({ body: new Uint8Array([0x61, 0xff, 0x62, 0xc3, 0xa9]) }));
  assertEquals(facts.body, "a\ufffdbé");
});

Deno.test("httpFacts() marks body and body_json unknown when the body was truncated", () => {
  const { facts, unknown } = httpFacts(request({
    method: "POST",
    headers: [["Content-Type", "application/json"]],
    body: encoder.encode('{"a":1}'),
    bodyTruncated: true,
  }));
  // A JSON body's unseen rest could hold a `_method`: the effective method is unknown too.
  assertEquals(unknown, ["http.body", "http.body_json", "http.effective_method", "http.graphql"]);
  assertEquals(facts.body_truncated, true);
  assertEquals(facts.body, '{"a":1}');
  assertEquals(facts.body_json, null);
});

Deno.test("httpFacts() leaves placeholders empty", () => {
  const { facts } = httpFacts(request());
  assertEquals([facts.placeholders, facts.misplaced_placeholders], [[], []]);
});

Deno.test("httpFacts() summarises as METHOD host path without the query", () => {
  const summary = (overrides: Partial<HttpRequestInput>) => httpFacts(request(overrides)).summary;
  assertEquals(
    summary({ method: "post", host: "API.github.com.", target: "/repos/x/y/pulls?token=s3cret" }),
    "POST api.github.com/repos/x/y/pulls",
  );
  assertEquals(summary({ port: 8443, target: "/a" }), "GET api.github.com:8443/a");
  assertEquals(summary({ scheme: "http", port: 80, target: "/a" }), "GET api.github.com/a");
  assertEquals(summary({ scheme: "http", port: 443, target: "/a" }), "GET api.github.com:443/a");
  const long = summary({ target: "/" + "a".repeat(500) + "?secret=1" });
  assertEquals(long.length, 200);
  assert(long.startsWith("GET api.github.com/aaa") && long.endsWith("..."));
});

const METHODS: [sent: string, forwarded: string, fact: string][] = [
  ["GET", "GET", "get"],
  ["get", "GET", "get"],
  ["Post", "POST", "post"],
  ["dElEtE", "DELETE", "delete"],
  ["patch", "PATCH", "patch"],
  ["options", "OPTIONS", "options"],
  ["head", "HEAD", "head"],
  ["Put", "PUT", "put"],
  ["trace", "TRACE", "trace"],
  ["connect", "CONNECT", "connect"],
  ["PURGE", "PURGE", "purge"],
  ["M-SEARCH", "M-SEARCH", "m-search"],
  ["PROPFIND", "PROPFIND", "propfind"],
];

Deno.test("httpFacts() canonicalises standard methods in any case", async (t) => {
  for (const [sent, forwarded, fact] of METHODS) {
    await t.step(sent, () => {
      const out = httpFacts(request({ method: sent }));
      assertEquals([out.method, out.facts.method], [forwarded, fact]);
      assert(out.summary.startsWith(`${forwarded} `));
    });
  }
});

Deno.test("httpFacts() rejects extension methods that are not uppercase, and non-tokens", async (t) => {
  for (
    const sent of ["Purge", "purge", "propFind", "", "GE T", "GET\r\n", "G\u0130T", "p\u017FST"]
  ) {
    await t.step(JSON.stringify(sent), () => {
      assertThrows(() => httpFacts(request({ method: sent })), MethodRejected);
    });
  }
});

// The contract with the rules engine ------------------------------------------------------------

function actionOf(input: HttpRequestInput): Action {
  const { facts, unknown, summary } = httpFacts(input);
  return {
    protocol: "https",
    endpoint: "github",
    agent: { name: "bot", profile: "oncall" },
    facts: { http: facts },
    unknown,
    summary,
  };
}

Deno.test("rules see the normalised path, so encoded dot-segments cannot dodge them", async () => {
  const policy = await policyOf(
    rule("no-admin", {
      endpoint: "https.github",
      priority: 10,
      condition: 'http.path.startsWith("/admin") && http.method == "get"',
      verdict: "deny",
    }) + rule("rest", { endpoint: "https.github", condition: "true", verdict: "allow" }),
  );
  for (const target of ["/admin", "/x/%2e%2e/admin", "//admin/", "/./admin?x=1", "/%61dmin"]) {
    const verdict = policy.decide(actionOf(request({ method: "Get", target })));
    assertEquals([target, verdict.decision, verdict.rule], [target, "deny", "no-admin"]);
  }
  assertEquals(policy.decide(actionOf(request({ target: "/repos" }))).decision, "allow");
});

Deno.test("rules read query, headers and body_json facts, and deny on a truncated body", async () => {
  const policy = await policyOf(
    rule("draft-prs", {
      endpoint: "https.github",
      condition: 'http.query["draft"] == ["true"] && http.headers["x-a"].size() == 2 && ' +
        'http.body_json.title == "t" && http.port == 443',
      verdict: "allow",
    }),
  );
  const input = request({
    method: "POST",
    target: "/pulls?draft=true",
    headers: [["X-A", "1"], ["x-a", "2"], ["Content-Type", "application/json"]],
    body: encoder.encode('{"title":"t"}'),
  });
  assertEquals(policy.decide(actionOf(input)).decision, "allow");
  assertEquals(policy.decide(actionOf({ ...input, bodyTruncated: true })).decision, "deny");
});
