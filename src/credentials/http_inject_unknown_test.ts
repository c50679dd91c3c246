import { deepStrictEqual } from "node:assert/strict";
import { HttpInjector, type HttpRequestParts, type InjectableCredential } from "./http_inject.ts";
import { credential } from "./_inject_fixture_test.ts";

const enc = new TextEncoder();

function request(
  headers: [string, string][],
  target = "/user",
  body = "",
  contentType?: string,
): HttpRequestParts {
  return {
    headers,
    target,
    body: enc.encode(body),
    bodyTruncated: false,
    ...(contentType ? { contentType } : {}),
  };
}

/** The unknown placeholders of a request to `endpoint`, every credential held. */
function unknownOf(creds: InjectableCredential[], endpoint: string, req: HttpRequestParts) {
  return new HttpInjector(creds).plan(endpoint, new Set(creds.map((c) => c.ref)), req).unknown;
}

const pat = credential("github_pat");
/** Bound elsewhere: its placeholder is misplaced on github, never unknown. */
const other = credential("other_pat", { endpoints: ["other"] });

Deno.test("plan() reports {{…}} naming no credential in any header, inside Basic credentials too", () => {
  const basic = `Basic ${btoa("svc:{{pw_nope}}")}`;
  const plan = new HttpInjector([pat, other]).plan(
    "github",
    new Set([pat.ref]),
    request([
      ["Authorization", "Bearer {{nope}}"],
      ["X-Team", "{{team_name}} and {{github_pat}}"],
      ["X-Other", "{{other_pat}}"],
    ]),
  );
  deepStrictEqual(plan.unknown, ["{{nope}}", "{{team_name}}"]);
  deepStrictEqual(plan.placeholders, ["github_pat", "other_pat"]);
  deepStrictEqual(plan.misplaced, ["other_pat"]);
  // Basic credentials are looked at decoded, where basic_auth placeholders are found.
  deepStrictEqual(unknownOf([pat], "github", request([["Authorization", basic]])), [
    "{{pw_nope}}",
  ]);
  // A request with only configured placeholders has none.
  const clean = request([["Authorization", "Bearer {{github_pat}}"]]);
  deepStrictEqual(unknownOf([pat], "github", clean), []);
});

Deno.test("plan() finds unknown placeholders in headers on an endpoint without credentials, or with none configured", () => {
  const req = request([["Authorization", "Bearer {{nope}}"]]);
  deepStrictEqual(unknownOf([pat], "elsewhere", req), ["{{nope}}"]);
  deepStrictEqual(unknownOf([], "github", req), ["{{nope}}"]);
});

Deno.test("plan() looks in the path, query and body only where a credential bound to the endpoint substitutes", () => {
  const req = request(
    [["Accept", "*/*"]],
    "/repos/{{in_path}}?q=%7B%7Bin_query%7D%7D",
    '{"template":"{{in_body}}"}',
    "application/json",
  );
  // Header-only credentials: the rest is the request's own data.
  deepStrictEqual(unknownOf([pat], "github", req), []);
  deepStrictEqual(
    unknownOf([pat, credential("q_body", { substituteIn: ["query", "body"] })], "github", req),
    ["{{in_body}}", "{{in_query}}"],
  );
  deepStrictEqual(
    unknownOf([credential("p", { substituteIn: ["path"] })], "github", req),
    ["{{in_path}}"],
  );
  // A query_token substitutes in the query by nature.
  deepStrictEqual(
    unknownOf([credential("key", { kind: "query_token", param: "key" })], "github", req),
    ["{{in_query}}"],
  );
  // A credential bound to another endpoint widens nothing here.
  deepStrictEqual(
    unknownOf([credential("b", { substituteIn: ["body"], endpoints: ["other"] })], "github", req),
    [],
  );
  // Form bodies are looked at decoded, like the placeholders they may carry.
  const form = request([], "/f", "a=%7B%7Bform_nope%7D%7D", "application/x-www-form-urlencoded");
  deepStrictEqual(unknownOf([credential("b", { substituteIn: ["body"] })], "github", form), [
    "{{form_nope}}",
  ]);
});
