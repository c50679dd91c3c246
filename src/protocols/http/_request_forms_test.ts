import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import type { Action } from "../../core/mod.ts";
import { policyOf, rule } from "../../policy/_testing.ts";
import { httpFacts, type HttpRequestInput, MethodRejected, PathRejected } from "./facts.ts";
import {
  effectiveMethod,
  methodOverrides,
  type OverrideSources,
  pathForms,
  pathFormsByDecoding,
  pathRefusal,
} from "./_request_forms.ts";
import { normaliseTarget } from "./_path.ts";

const FULLWIDTH_ADMIN = "/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E";

// [target as sent, canonical path, anomalies]: each form of issue 27 and benign paths.
const CASES: [string, string, string[]][] = [
  ["/admin", "/admin", []],
  ["/ADMIN", "/admin", []],
  ["/admin/", "/admin", []],
  ["/%2561dmin", "/admin", ["double_encoded"]],
  ["/%252561dmin", "/admin", ["double_encoded"]],
  ["/%252e%252e/x/admin", "/x/admin", ["double_encoded"]],
  ["/;/admin", "/admin", ["path_params"]],
  ["/;x=1/admin", "/admin", ["path_params"]],
  ["/admin;jsessionid=1/users", "/admin/users", ["path_params"]],
  ["/%20/admin", "/admin", ["encoded_space"]],
  ["/admin%09", "/admin", ["encoded_space"]],
  [FULLWIDTH_ADMIN, "/admin", ["non_ascii"]],
  ["/%E3%80%80/admin", "/admin", ["encoded_space", "non_ascii"]],
  ["/a%2Fadmin", "/a/admin", ["encoded_slash"]],
  ["/;/%2541DMIN/", "/admin", ["double_encoded", "path_params"]],
  // Benign: must stay unflagged.
  ["/repos/a/b/issues?q=%2520", "/repos/a/b/issues", []],
  ["/repos/Owner/Repo/pulls", "/repos/owner/repo/pulls", []],
  ["/files/100%25", "/files/100%", []],
  ["/", "/", []],
  ["/v1/chat/completions", "/v1/chat/completions", []],
];

Deno.test("pathForms() canonicalises every issue-27 form to /admin and names its anomalies", () => {
  for (const [target, canonical, anomalies] of CASES) {
    const { path } = normaliseTarget(target, { allowEncodedSlash: true });
    deepEqual(pathForms(path), { canonicalPath: canonical, anomalies }, target);
  }
});

Deno.test("pathForms() gives what the full decoding gives, for plain paths and every other", () => {
  // Plain characters, dot segments, case, doubled and trailing slashes, and each character that
  // sends a path the long way: %, ;, backslash, space, a control, non-ASCII.
  const pieces = ["/", "/", "a", "B", ".", "..", "-", "~", "%41", "%2e", ";", "\\", " ", "\t", "é"];
  let seed = 11;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const paths = ["", "/", "//", "/.", "/..", "a", "a/b", "/A/./B/../c/", "/.well-known/x"];
  for (let i = 0; i < 20_000; i++) {
    let path = next() < 0.8 ? "/" : "";
    const n = Math.floor(next() * 8);
    for (let k = 0; k < n; k++) path += pieces[Math.floor(next() * pieces.length)];
    paths.push(path);
  }
  for (const path of paths) deepEqual(pathForms(path), pathFormsByDecoding(path), path);
});

Deno.test("pathRefusal() refuses double encoding and path parameters unless allowed, nothing else", () => {
  match(pathRefusal(["double_encoded"], {})!, /double-encoded.*allow_double_encoding/);
  match(pathRefusal(["path_params"], {})!, /path parameters.*allow_path_params/);
  equal(pathRefusal(["double_encoded"], { allowDoubleEncoding: true }), null);
  equal(pathRefusal(["path_params"], { allowPathParams: true }), null);
  // Case, spaces, non-ASCII and (allowed) encoded slashes are left to rules.
  equal(pathRefusal(["encoded_space", "non_ascii", "encoded_slash"], {}), null);
});

function sources(over: Partial<OverrideSources>): OverrideSources {
  return { headers: {}, query: {}, body: "", body_json: null, contentType: undefined, ...over };
}

Deno.test("methodOverrides() finds override headers, _method in query, form, multipart and JSON bodies", () => {
  const cases: [Partial<OverrideSources>, string[]][] = [
    [{}, []],
    [{ headers: { "x-http-method-override": ["DELETE"] } }, ["delete"]],
    [{ headers: { "x-http-method": [" Put "] } }, ["put"]],
    [{ headers: { "x-method-override": ["PATCH"] } }, ["patch"]],
    [{ query: { _method: ["delete"] } }, ["delete"]],
    [{ body: "a=1&_method=DELETE", contentType: ["application/x-www-form-urlencoded"] }, [
      "delete",
    ]],
    // Not a form: the text is not a parameter.
    [{ body: "a=1&_method=DELETE", contentType: ["text/plain"] }, []],
    [{
      body: '--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n',
      contentType: ["multipart/form-data; boundary=b"],
    }, ["delete"]],
    [{ body_json: { _method: "DELETE" } }, ["delete"]],
    [{ headers: { "x-http-method-override": ["DELETE", "delete"] } }, ["delete"]],
    [{ headers: { "x-http-method-override": [""] } }, []],
  ];
  for (const [over, want] of cases) deepEqual(methodOverrides(sources(over)), want);
});

Deno.test("effectiveMethod() refuses an override to another method unless allowed, then reports it", () => {
  deepEqual(effectiveMethod("get", [], {}), { method: "get", refusal: null });
  deepEqual(effectiveMethod("get", ["get"], {}), { method: "get", refusal: null });
  match(effectiveMethod("get", ["delete"], {}).refusal!, /override to 'DELETE' on a GET/);
  deepEqual(effectiveMethod("get", ["delete"], { allowMethodOverride: true }), {
    method: "delete",
    refusal: null,
  });
  // Ambiguous even when allowed: which override wins is the upstream's choice.
  match(
    effectiveMethod("post", ["put", "delete"], { allowMethodOverride: true }).refusal!,
    /conflicting/,
  );
  match(
    effectiveMethod("post", ["delete, put"], { allowMethodOverride: true }).refusal!,
    /not a method/,
  );
});

// Through httpFacts() and the rules engine ------------------------------------------------------

function input(over: Partial<HttpRequestInput>): HttpRequestInput {
  return {
    method: "GET",
    scheme: "https",
    host: "api.test",
    port: 443,
    target: "/",
    headers: [],
    body: new Uint8Array(),
    bodyTruncated: false,
    ...over,
  };
}

Deno.test("httpFacts() refuses double-encoded paths, path parameters and method overrides unless allowed", () => {
  const override: [string, string][] = [["X-HTTP-Method-Override", "DELETE"]];
  throws(() => httpFacts(input({ target: "/%2561dmin" })), PathRejected);
  throws(() => httpFacts(input({ target: "/;/admin" })), PathRejected);
  throws(() => httpFacts(input({ target: "/;x=1/admin?a=b" })), /path parameters/);
  throws(() => httpFacts(input({ headers: override })), MethodRejected);
  throws(() => httpFacts(input({ target: "/x?_method=delete" })), /override to 'DELETE' on a GET/);
  const allowed = httpFacts(
    input({
      target: "/;/%2561dmin",
      headers: override,
      allowDoubleEncoding: true,
      allowPathParams: true,
      allowMethodOverride: true,
    }),
  );
  deepEqual(
    [allowed.facts.canonical_path, allowed.facts.path_anomalies, allowed.facts.effective_method],
    ["/admin", ["double_encoded", "path_params"], "delete"],
  );
  // Forwarded as sent (normalised), never rewritten to the canonical form.
  equal(allowed.upstreamTarget, "/;/%2561dmin");
  equal(allowed.method, "GET");
  // An override naming the request's own method is no ambiguity; query double-encoding is data.
  const same = httpFacts(
    input({ target: "/repos/a/b/issues?q=%2520", headers: [["X-HTTP-Method", "get"]] }),
  );
  deepEqual([same.facts.effective_method, same.facts.path_anomalies], ["get", []]);
});

Deno.test("httpFacts() leaves http.effective_method unknown when a truncated form body could hide _method", () => {
  const form = input({
    method: "POST",
    headers: [["Content-Type", "application/x-www-form-urlencoded"]],
    body: new TextEncoder().encode("a=1"),
    bodyTruncated: true,
  });
  ok(httpFacts(form).unknown.includes("http.effective_method"));
  ok(!httpFacts({ ...form, headers: [] }).unknown.includes("http.effective_method"));
});

Deno.test("rules on canonical_path, path_anomalies and effective_method catch what http.path misses", async () => {
  const policy = await policyOf(
    rule("no-admin", {
      endpoint: "https.github",
      priority: 10,
      condition: "http.canonical_path.startsWith('/ADMIN')",
      verdict: "deny",
    }) +
      rule("no-deletes", {
        endpoint: "https.github",
        priority: 5,
        condition: "http.effective_method == 'DELETE'",
        verdict: "deny",
      }) +
      rule("odd-paths", {
        endpoint: "https.github",
        priority: 1,
        condition: "'NON_ASCII' in http.path_anomalies",
        verdict: "deny",
      }) + rule("rest", { endpoint: "https.github", condition: "true", verdict: "allow" }),
  );
  const decide = (over: Partial<HttpRequestInput>) => {
    const { facts, unknown, summary } = httpFacts(input({ host: "api.github.com", ...over }));
    const action: Action = {
      protocol: "https",
      endpoint: "github",
      agent: { name: "bot", profile: "oncall" },
      facts: { http: facts },
      unknown,
      summary,
    };
    return policy.decide(action).rule;
  };
  for (const target of ["/ADMIN", "/%20/admin", FULLWIDTH_ADMIN, "/Admin/", "/admin%09"]) {
    equal(decide({ target }), "no-admin", target);
  }
  equal(
    decide({ headers: [["X-HTTP-Method-Override", "DELETE"]], allowMethodOverride: true }),
    "no-deletes",
  );
  equal(decide({ target: "/caf%C3%A9" }), "odd-paths");
  equal(decide({ target: "/repos/Owner/Repo" }), "rest");
});
