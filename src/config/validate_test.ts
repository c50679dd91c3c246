import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ConfigError } from "../core/mod.ts";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

const BROKEN = `schema_version = 1
gateway {
  proxy_listen = "8080"
  admin_listen = "127.0.0.1:99999"
  mode         = "enforcing"
  limits {
    body_buffer    = "lots"
    header_timeout = "ten minutes"
  }
}
defaults {
  human_timeout = "ten minutes"
  no_match      = "maybe"
  colour        = "blue"
}
endpoint "https" "gh" {
  hosts   = ["api.github.com", "not a host"]
  upstrem = "10.0.0.1:443"
  allow_encoded_slash = "yes"
}
endpoint "postgres" "pg" {
  host   = "db.internal:5432"
  listen = 15432
}
endpoint "ftp" "old" {
  hosts = ["ftp.example.com"]
}
endpoint "https" "gh" {
  hosts = ["dup.example.com"]
}
credential "bearer_token" "wrong_family" {
  endpoint = postgres.pg
}
credential "bearer_token" "dangling" {
  endpoint = https.nowhere
}
credential "magic_token" "m" {}
credential "basic_auth" "quoted" {
  endpoint = "https.gh"
  username = "bot"
}
profile "p" {
  endpoints   = [https.gh, https.missing]
  credentials = [bearer_token.nope]
}
approver "human_approver" "ops" {
  timeout = "soon"
}
rule "mixed" {
  endpoints = [https.gh, postgres.pg]
  verdict   = "deny"
}
rule "approve-cred" {
  endpoint = https.gh
  approve  = [bearer_token.dangling]
}
rule "both" {
  endpoint = https.gh
  verdict  = "deny"
  approve  = [human_approver.ops]
}
rule "neither" {
  endpoint = https.gh
}
rule "typed" {
  endpoint = https.gh
  priority = "high"
  verdict  = "block"
  verbb    = "deny"
}
rule "both" {
  endpoint = https.gh
  verdict  = "allow"
}
rule "no-endpoint" {
  verdict = "deny"
}
rule "wrong-cred" {
  endpoint   = https.gh
  verdict    = "deny"
  credential = postgres_credential.nope
}
listener "x" {}
`;

const cases: [needle: string, message: RegExp, nth?: number][] = [
  ['proxy_listen = "8080"', /'proxy_listen' must be host:port, got "8080"/],
  ["admin_listen", /'admin_listen' must be host:port/],
  ['mode         = "enforcing"', /'mode' must be one of "enforce", "observe", got "enforcing"/],
  ["body_buffer", /^gateway\.limits: 'body_buffer' must be a size/],
  ['header_timeout = "ten minutes"', /'header_timeout' must be a duration.*"ten minutes"/],
  ['human_timeout = "ten minutes"', /^defaults: 'human_timeout' must be a duration/],
  ["no_match", /'no_match' must be one of "deny", "allow", got "maybe"/],
  ["colour", /^defaults: unknown attribute or block 'colour'/],
  ['"not a host"', /'hosts' entry "not a host" is not a host name/],
  ["upstrem", /unknown attribute or block 'upstrem'/],
  ["allow_encoded_slash", /'allow_encoded_slash' must be true or false, got "yes"/],
  ["listen = 15432", /'listen' must be a string, got number 15432/],
  ['endpoint "ftp" "old"', /unknown endpoint protocol "ftp"/],
  ['endpoint "https" "gh"', /duplicate endpoint name 'gh' \(first defined at t\.hcl:16\)/, 1],
  ["endpoint = postgres.pg", /'endpoint' refers to 'postgres\.pg', but must refer to https\.\*/],
  ["endpoint = https.nowhere", /'endpoint' refers to undefined endpoint 'https\.nowhere'/],
  ['credential "magic_token"', /unknown credential kind "magic_token"/],
  ['endpoint = "https.gh"', /got "https\.gh" \(write https\.gh without quotes\)/],
  ["https.missing", /'endpoints' refers to undefined endpoint 'https\.missing'/],
  ["bearer_token.nope", /'credentials' refers to undefined credential 'bearer_token\.nope'/],
  ['timeout = "soon"', /'timeout' must be a duration/],
  ["endpoints = [https.gh, postgres.pg]", /rule mixes protocol families \(https, postgres\)/],
  ["approve  = [bearer_token.dangling]", /'approve' refers to 'bearer_token\.dangling'/],
  ["approve  = [human_approver.ops]", /set 'verdict' or 'approve', not both/],
  ['rule "neither"', /needs 'verdict = "allow"\|"deny"' or 'approve'/],
  ['priority = "high"', /'priority' must be a whole number, got "high"/],
  ['verdict  = "block"', /'verdict' must be one of "allow", "deny", got "block"/],
  ["verbb", /^rule "typed": unknown attribute or block 'verbb'/],
  ['rule "both"', /duplicate rule name 'both' \(first defined at t\.hcl:\d+\)/, 1],
  ['rule "no-endpoint"', /missing required attribute 'endpoint'/],
  [
    "credential = postgres_credential.nope",
    /'credential' refers to undefined credential 'postgres_credential\.nope'/,
  ],
  ['listener "x"', /unknown block or attribute 'listener'/],
];

Deno.test("loadConfigText() reports every problem with its line, not just the first", async () => {
  const problems = await problemsOf(BROKEN);
  for (const [needle, message, nth] of cases) {
    assertProblem(problems, lineOf(BROKEN, needle, nth), message);
  }
  ok(problems.every((p) => p.file === "t.hcl"));
});

Deno.test("loadConfigText() reports nothing twice and nothing spurious in a broken config", async () => {
  const problems = await problemsOf(BROKEN);
  const rendered = problems.map((p) => `${p.line}: ${p.message}`);
  deepStrictEqual(rendered, [...new Set(rendered)], "a problem was reported twice");
  // An approve list whose only entry is the wrong kind is one mistake, not two.
  equal(
    problems.filter((p) => /needs at least one approver/.test(p.message)).length,
    0,
    rendered.join("\n"),
  );
  equal(problems.length, cases.length, rendered.join("\n"));
});

Deno.test("ConfigError carries the problems as an array and one 'file:line: message' per line", async () => {
  const err = await loadConfigText("bad.hcl", `${HEAD}rule "r" {\n  verbb = 1\n}\nfoo = 1\n`, {
    protocols: PROTOCOLS,
  })
    .then(() => undefined, (e: unknown) => e);
  ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
  ok(Array.isArray(err.problems));
  ok(err.problems.length >= 2);
  const lines = err.message.split("\n");
  equal(lines.length, err.problems.length);
  for (const [i, p] of err.problems.entries()) {
    equal(lines[i], `${p.file}:${p.line}: ${p.message}`);
  }
  ok(lines.some((l) => l.startsWith("bad.hcl:3: ") && l.includes("'verbb'")), err.message);
  ok(lines.some((l) => l.startsWith("bad.hcl:5: ") && l.includes("'foo'")), err.message);
});

Deno.test("loadConfigText() sorts problems by line", async () => {
  const text =
    `${HEAD}zzz = 1\nrule "r" {\n  endpoint = https.none\n  verdict = "deny"\n}\naaa = 2\n`;
  const lines = (await problemsOf(text)).map((p) => p.line);
  deepStrictEqual(lines, [...lines].sort((a, b) => a - b));
});

Deno.test("loadConfigText() requires schema_version", async () => {
  const problems = await problemsOf(`gateway {\n  mode = "enforce"\n}\n`);
  assertProblem(problems, 1, /missing 'schema_version = 1'/);
});

Deno.test("loadConfigText() rejects an unsupported schema_version on its line", async () => {
  const text = `# comment\nschema_version = 2\n`;
  assertProblem(await problemsOf(text), 2, /unsupported schema_version 2: this build reads 1/);
  const str = `schema_version = "1"\n`;
  assertProblem(await problemsOf(str), 1, /'schema_version' must be a whole number, got "1"/);
});
