import { deepEqual, equal, notEqual, ok, throws } from "node:assert/strict";
import {
  HttpInjector,
  type HttpRequestParts,
  type InjectableCredential,
  type InjectionPlan,
} from "./http_inject.ts";
import { credential } from "./_inject_fixture_test.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface RequestOptions {
  headers?: [string, string][];
  target?: string;
  body?: string | Uint8Array;
  bodyTruncated?: boolean;
  contentType?: string;
}

function request(o: RequestOptions = {}): HttpRequestParts {
  const r: HttpRequestParts = {
    headers: o.headers ?? [["Accept", "application/json"]],
    target: o.target ?? "/user",
    body: typeof o.body === "string" ? enc.encode(o.body) : o.body ?? new Uint8Array(),
    bodyTruncated: o.bodyTruncated ?? false,
  };
  if (o.contentType !== undefined) r.contentType = o.contentType;
  return r;
}

const pat = credential("github_pat");
const SECRETS = new Map([[pat.ref, "ghp_s3cret"]]);

/** Plans with every credential held, on endpoint "github". */
function planAll(creds: InjectableCredential[], req: HttpRequestParts): InjectionPlan {
  return new HttpInjector(creds).plan("github", new Set(creds.map((c) => c.ref)), req);
}

function header(parts: HttpRequestParts, name: string): string[] {
  return parts.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

Deno.test("bearer placeholder in Authorization becomes the secret", () => {
  const plan = planAll([pat], request({ headers: [["Authorization", "Bearer {{github_pat}}"]] }));
  deepEqual(plan.placeholders, ["github_pat"]);
  deepEqual(plan.misplaced, []);
  deepEqual(plan.misplacedDetail, []);
  deepEqual(plan.needs, ["bearer_token.github_pat"]);
  deepEqual(plan.apply(SECRETS).headers, [["Authorization", "Bearer ghp_s3cret"]]);
});

Deno.test("the agent's scheme word is kept around a substituted placeholder", () => {
  const plan = planAll([pat], request({ headers: [["authorization", "token {{github_pat}}"]] }));
  deepEqual(plan.apply(SECRETS).headers, [["authorization", "token ghp_s3cret"]]);
});

Deno.test("a custom token-shaped placeholder is substituted", () => {
  const c = credential("openai", { placeholder: "sk-PLACEHOLDER0000000000" });
  const plan = planAll(
    [c],
    request({ headers: [["Authorization", "Bearer sk-PLACEHOLDER0000000000"]] }),
  );
  deepEqual(plan.placeholders, ["openai"]);
  const out = plan.apply(new Map([[c.ref, "sk-real"]]));
  deepEqual(out.headers, [["Authorization", "Bearer sk-real"]]);
});

Deno.test("header_token: its placeholder is substituted in its header, inject=always writes prefix + secret", () => {
  const c = credential("linear", {
    kind: "header_token",
    header: "X-Api-Key",
    prefix: "Token ",
    inject: "always",
  });
  const secrets = new Map([[c.ref, "lin_1"]]);
  const sent = planAll([c], request({ headers: [["x-api-key", "{{linear}}"]] }));
  deepEqual(sent.apply(secrets).headers, [["x-api-key", "lin_1"]]);
  const absent = planAll([c], request({ headers: [["Accept", "*/*"]] }));
  deepEqual(absent.needs, [c.ref]);
  deepEqual(absent.apply(secrets).headers, [["Accept", "*/*"], ["X-Api-Key", "Token lin_1"]]);
  // The agent's own value in that header is replaced, never forwarded.
  const own = planAll([c], request({ headers: [["X-API-KEY", "agent-own"]] }));
  deepEqual(own.apply(secrets).headers, [["X-Api-Key", "Token lin_1"]]);
});

Deno.test("basic_auth: a Basic header whose decoded form holds the placeholder is rebuilt from config", () => {
  const c = credential("jira", { kind: "basic_auth", username: "svc-agent" });
  const secrets = new Map([[c.ref, "pw:ü"]]);
  const sent = `Basic ${btoa("whoever:{{jira}}")}`;
  const plan = planAll([c], request({ headers: [["Authorization", sent]] }));
  deepEqual(plan.placeholders, ["jira"]);
  deepEqual(plan.needs, [c.ref]);
  const [value] = header(plan.apply(secrets), "authorization");
  ok(value.startsWith("Basic "));
  const bytes = Uint8Array.from(atob(value.slice(6)), (ch) => ch.charCodeAt(0));
  equal(dec.decode(bytes), "svc-agent:pw:ü");
  // The placeholder written straight into the header also rebuilds it.
  const raw = planAll([c], request({ headers: [["Authorization", "Basic {{jira}}"]] }));
  deepEqual(header(raw.apply(secrets), "authorization"), [value]);
});

Deno.test("a bearer placeholder inside a decoded Basic header is substituted and re-encoded", () => {
  // git over https: `x-access-token:<token>` as Basic credentials.
  const plan = planAll(
    [pat],
    request({
      headers: [["Authorization", `basic ${btoa("x-access-token:{{github_pat}}")}`]],
    }),
  );
  deepEqual(plan.apply(SECRETS).headers, [
    ["Authorization", `basic ${btoa("x-access-token:ghp_s3cret")}`],
  ]);
});

Deno.test("query_token: its placeholder in the query is substituted percent-encoded", () => {
  const c = credential("maps", { kind: "query_token", param: "key" });
  const plan = planAll([c], request({ target: "/geo?q=x&key={{maps}}&z=1" }));
  deepEqual(plan.misplaced, []);
  const out = plan.apply(new Map([[c.ref, "a&b=c d/é"]]));
  equal(out.target, "/geo?q=x&key=a%26b%3Dc%20d%2F%C3%A9&z=1");
});

Deno.test("query_token inject=always sets the parameter, replacing the agent's own value in place", () => {
  const c = credential("maps", { kind: "query_token", param: "api key", inject: "always" });
  const secrets = new Map([[c.ref, "k/1"]]);
  const none = planAll([c], request({ target: "/geo" }));
  deepEqual(none.needs, [c.ref]);
  equal(none.apply(secrets).target, "/geo?api%20key=k%2F1");
  const other = planAll([c], request({ target: "/geo?q=1" }));
  equal(other.apply(secrets).target, "/geo?q=1&api%20key=k%2F1");
  const own = planAll([c], request({ target: "/geo?api+key=mine&q=1&api%20key=again" }));
  equal(own.apply(secrets).target, "/geo?api%20key=k%2F1&q=1");
});

Deno.test("query_token inject=placeholder drops the agent's own value for its parameter", () => {
  const c = credential("maps", { kind: "query_token", param: "key" });
  const plan = planAll([c], request({ target: "/geo?a=1&key=mine&&b=2" }));
  deepEqual(plan.needs, []);
  equal(plan.apply(new Map()).target, "/geo?a=1&&b=2");
  const alone = planAll([c], request({ target: "/geo?key=mine" }));
  equal(alone.apply(new Map()).target, "/geo");
});

Deno.test("a %-encoded placeholder in the query is found and substituted when the query is allowed", () => {
  const c = credential("github_pat", { substituteIn: ["header", "query"] });
  const plan = planAll([c], request({ target: "/search?q=%7b%7Bgithub_pat%7D%7d&x=%7B" }));
  deepEqual(plan.placeholders, ["github_pat"]);
  deepEqual(plan.needs, [c.ref]);
  equal(plan.apply(new Map([[c.ref, "a b"]])).target, "/search?q=a%20b&x=%7B");
});

Deno.test("a placeholder in the path is substituted only when path is allowed", () => {
  const c = credential("hook", { substituteIn: ["path"] });
  const target = "/hooks/%7B%7Bhook%7D%7D/{{hook}}";
  const plan = planAll([c], request({ target }));
  equal(plan.apply(new Map([[c.ref, "t/1"]])).target, "/hooks/t%2F1/t%2F1");
  const header = planAll([pat], request({ target: "/x/{{github_pat}}" }));
  deepEqual(header.misplaced, ["github_pat"]);
  deepEqual(header.misplacedDetail, ["github_pat in path (substitute_in allows header)"]);
  equal(header.apply(SECRETS).target, "/x/{{github_pat}}");
});

Deno.test("a placeholder in the body when only header is allowed is misplaced and the body unchanged", () => {
  const body = enc.encode('{"token":"{{github_pat}}"}');
  const plan = planAll([pat], request({ body, contentType: "application/json" }));
  deepEqual(plan.placeholders, ["github_pat"]);
  deepEqual(plan.misplaced, ["github_pat"]);
  deepEqual(plan.misplacedDetail, ["github_pat in body (substitute_in allows header)"]);
  deepEqual(plan.needs, []);
  const out = plan.apply(new Map());
  deepEqual(out.body, enc.encode('{"token":"{{github_pat}}"}'));
});

Deno.test("a placeholder in a JSON body is substituted JSON-escaped when body is allowed", () => {
  const c = credential("github_pat", { substituteIn: ["body"] });
  const secret = 'q"uo\\te\n/é';
  const plan = planAll(
    [c],
    request({
      body: '{"token":"{{github_pat}}","n":1}',
      contentType: "application/vnd.api+json; charset=utf-8",
    }),
  );
  const out = plan.apply(new Map([[c.ref, secret]]));
  deepEqual(JSON.parse(dec.decode(out.body)), { token: secret, n: 1 });
});

Deno.test("form bodies get the secret percent-encoded, also for a %-encoded placeholder; other bodies raw", () => {
  const c = credential("github_pat", { substituteIn: ["body"] });
  const secrets = new Map([[c.ref, "a&b=c"]]);
  const form = planAll(
    [c],
    request({
      body: "x=1&t=%7B%7Bgithub_pat%7D%7D&u={{github_pat}}",
      contentType: "application/x-www-form-urlencoded",
    }),
  );
  equal(dec.decode(form.apply(secrets).body), "x=1&t=a%26b%3Dc&u=a%26b%3Dc");
  const text = planAll([c], request({ body: "t={{github_pat}} %7B%7Bgithub_pat%7D%7D" }));
  equal(dec.decode(text.apply(secrets).body), "t=a&b=c %7B%7Bgithub_pat%7D%7D");
});

Deno.test("a placeholder of a credential bound to another endpoint is misplaced, not substituted", () => {
  const deploy = credential("deploy_key", { endpoints: ["other"] });
  const injector = new HttpInjector([pat, deploy]);
  const held = new Set([pat.ref, deploy.ref]);
  const plan = injector.plan(
    "github",
    held,
    request({
      headers: [["Authorization", "Bearer {{deploy_key}}"]],
    }),
  );
  deepEqual(plan.placeholders, ["deploy_key"]);
  deepEqual(plan.misplaced, ["deploy_key"]);
  deepEqual(plan.misplacedDetail, ["deploy_key: not bound to endpoint 'github'"]);
  deepEqual(plan.needs, []);
  // github_pat is usable and owns Authorization; the foreign placeholder is not its to keep.
  deepEqual(plan.apply(new Map()).headers, []);
  const passthrough = injector.plan("", held, request({ target: "/x?t={{deploy_key}}" }));
  deepEqual(passthrough.misplacedDetail, ["deploy_key: the host is not an endpoint"]);
  equal(passthrough.apply(new Map()).target, "/x?t={{deploy_key}}");
});

Deno.test("a credential the agent's profile does not hold is misplaced and its header left alone", () => {
  const plan = new HttpInjector([pat]).plan(
    "github",
    new Set(),
    request({
      headers: [["Authorization", "Bearer {{github_pat}}"]],
    }),
  );
  deepEqual(plan.misplaced, ["github_pat"]);
  deepEqual(plan.misplacedDetail, ["github_pat: not in the agent's profile"]);
  deepEqual(plan.needs, []);
  deepEqual(plan.scrub, [pat.ref]);
  deepEqual(plan.apply(new Map()).headers, [["Authorization", "Bearer {{github_pat}}"]]);
});

Deno.test("the agent's own Authorization is dropped for a usable credential, replaced with inject=always", () => {
  const own = request({ headers: [["Authorization", "Bearer agent-own"], ["Accept", "*/*"]] });
  const dropped = planAll([pat], own);
  deepEqual(dropped.needs, []);
  deepEqual(dropped.apply(new Map()).headers, [["Accept", "*/*"]]);
  const always = credential("github_pat", { inject: "always" });
  const replaced = planAll([always], own);
  deepEqual(replaced.needs, [always.ref]);
  deepEqual(replaced.apply(SECRETS).headers, [
    ["Accept", "*/*"],
    ["Authorization", "Bearer ghp_s3cret"],
  ]);
});

Deno.test("never more than one Authorization header goes out", () => {
  const always = credential("github_pat", { inject: "always" });
  const plan = planAll(
    [always],
    request({
      headers: [
        ["Authorization", "Bearer {{github_pat}}"],
        ["authorization", "Bearer {{github_pat}}"],
        ["AUTHORIZATION", "Basic eDp5"],
      ],
    }),
  );
  deepEqual(plan.apply(SECRETS).headers, [["Authorization", "Bearer ghp_s3cret"]]);
  // Two usable always-credentials on one header: the first configured wins, alone.
  const basic = credential("jira", { kind: "basic_auth", username: "u", inject: "always" });
  const both = planAll([always, basic], request());
  deepEqual(both.needs, [always.ref]);
  equal(header(both.apply(SECRETS), "authorization").length, 1);
});

Deno.test("headers are left alone when the agent holds no credential for the endpoint", () => {
  const headers: [string, string][] = [["Authorization", "Bearer agent-own"], ["X-Api-Key", "k"]];
  const plan = new HttpInjector([pat]).plan("openai", new Set([pat.ref]), request({ headers }));
  deepEqual(plan.placeholders, []);
  deepEqual(plan.scrub, []);
  deepEqual(plan.apply(new Map()).headers, headers);
  const notHeld = new HttpInjector([pat]).plan("github", new Set(), request({ headers }));
  deepEqual(notHeld.apply(new Map()).headers, headers);
});

Deno.test("two credentials on one endpoint each get their own secret", () => {
  const key = credential("gh_app", { kind: "header_token", header: "X-App-Key" });
  const plan = planAll(
    [pat, key],
    request({
      headers: [["Authorization", "Bearer {{github_pat}}"], ["X-App-Key", "{{gh_app}}"]],
    }),
  );
  deepEqual(plan.placeholders, ["gh_app", "github_pat"]);
  deepEqual(plan.needs, [pat.ref, key.ref]);
  const out = plan.apply(new Map([[pat.ref, "ghp_s3cret"], [key.ref, "app_s3cret"]]));
  deepEqual(out.headers, [["Authorization", "Bearer ghp_s3cret"], ["X-App-Key", "app_s3cret"]]);
});

Deno.test("the longest placeholder wins when one contains another", () => {
  const read = credential("read", { placeholder: "tok_PLACEHOLDER" });
  const admin = credential("admin", {
    kind: "header_token",
    header: "X-Admin",
    placeholder: "tok_PLACEHOLDER_admin",
  });
  const plan = planAll(
    [read, admin],
    request({
      headers: [["Authorization", "Bearer tok_PLACEHOLDER_admin"], ["X-Admin", "tok_PLACEHOLDER"]],
    }),
  );
  const out = plan.apply(new Map([[read.ref, "R"], [admin.ref, "A"]]));
  deepEqual(out.headers, [["Authorization", "Bearer A"], ["X-Admin", "R"]]);
});

Deno.test("only the buffered prefix of a truncated body is rewritten", () => {
  const c = credential("github_pat", { substituteIn: ["body"] });
  const plan = planAll([c], request({ body: "a={{github_pat}}&b={{git", bodyTruncated: true }));
  const out = plan.apply(new Map([[c.ref, "S"]]));
  equal(dec.decode(out.body), "a=S&b={{git");
  equal(out.bodyTruncated, true);
});

Deno.test("apply() throws naming the credential when a needed secret is missing, leaking no value", () => {
  const key = credential("gh_app", { kind: "header_token", header: "X-App-Key" });
  const plan = planAll(
    [pat, key],
    request({
      headers: [["Authorization", "Bearer {{github_pat}}"], ["X-App-Key", "{{gh_app}}"]],
    }),
  );
  throws(
    () => plan.apply(SECRETS),
    (e: Error) =>
      e.message === "Missing secret for credential 'header_token.gh_app'" &&
      !e.message.includes("ghp_s3cret"),
  );
});

Deno.test("apply() refuses a secret with a line break bound for a header", () => {
  const plan = planAll([pat], request({ headers: [["Authorization", "Bearer {{github_pat}}"]] }));
  throws(
    () => plan.apply(new Map([[pat.ref, "x\r\nX-Evil: 1"]])),
    (e: Error) => e.message.includes("bearer_token.github_pat") && !e.message.includes("X-Evil"),
  );
});

Deno.test("plan() and apply() never mutate the request", () => {
  const c = credential("github_pat", { substituteIn: ["header", "query", "path", "body"] });
  const q = credential("maps", { kind: "query_token", param: "key", inject: "always" });
  const req = request({
    headers: [["Authorization", "Bearer {{github_pat}}"], ["X-Other", "{{github_pat}}"]],
    target: "/a/{{github_pat}}?key=own&t={{github_pat}}",
    body: "{{github_pat}}",
    contentType: "text/plain",
  });
  const before = structuredClone(req);
  const plan = planAll([c, q], req);
  deepEqual(req, before);
  const out = plan.apply(new Map([[c.ref, "S"], [q.ref, "Q"]]));
  deepEqual(req, before);
  notEqual(out.headers, req.headers);
  equal(out.target, "/a/S?key=Q&t=S");
  equal(dec.decode(out.body), "S");
});

Deno.test("scrub lists every credential bound to the endpoint, held or not", () => {
  const key = credential("gh_app", { kind: "header_token", header: "X-App-Key" });
  const other = credential("openai", { endpoints: ["openai"] });
  const plan = new HttpInjector([pat, key, other]).plan("github", new Set([pat.ref]), request());
  deepEqual(plan.scrub, [pat.ref, key.ref]);
  deepEqual(plan.needs, []);
});

Deno.test("inject=always does not add a credential whose placeholder sits somewhere else", () => {
  const always = credential("github_pat", { inject: "always" });
  const plan = planAll([always], request({ body: "{{github_pat}}" }));
  deepEqual(plan.misplaced, ["github_pat"]);
  deepEqual(plan.needs, []);
  deepEqual(header(plan.apply(new Map()), "authorization"), []);
});

Deno.test("HttpInjector refuses two credentials with one placeholder", () => {
  throws(
    () => new HttpInjector([pat, credential("other", { placeholder: "{{github_pat}}" })]),
    TypeError,
  );
});
