// Block shapes and references: labels, blocks written as attributes, reference syntax, string
// escapes, and each endpoint protocol's required fields.

import { deepStrictEqual, equal } from "node:assert/strict";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("loadConfigText() reports blocks with the wrong number of labels on their line", async () => {
  const text = `${HEAD}
rule {
  verdict = "deny"
}
rule "a" "b" {
  verdict = "deny"
}
gateway "main" {
}
endpoint "https" {
  hosts = ["a.io"]
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, "rule {"), /rule: expected 1 label/);
  assertProblem(problems, lineOf(text, 'rule "a" "b"'), /rule: expected 1 label/);
  assertProblem(problems, lineOf(text, 'gateway "main"'), /gateway: expected no labels/);
  assertProblem(problems, lineOf(text, 'endpoint "https" {'), /endpoint: expected 2 labels/);
});

Deno.test("loadConfigText() reports a block written as an attribute", async () => {
  const text = `${HEAD}gateway = "x"\n`;
  assertProblem(await problemsOf(text), 2, /'gateway' must be a block/);
});

Deno.test("loadConfigText() names the family when a reference has the wrong kind of endpoint", async () => {
  const text = `${HEAD}
endpoint "postgres" "pg" {
  host   = "db:5432"
  listen = "127.0.0.1:15432"
}
rule "r" {
  endpoint = https.pg
  verdict  = "deny"
}
`;
  assertProblem(
    await problemsOf(text),
    lineOf(text, "endpoint = https.pg"),
    /'endpoint' refers to 'https\.pg', but 'pg' is a postgres endpoint/,
  );
});

Deno.test("loadConfigText() accepts references whose names contain dashes", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}
endpoint "kubernetes" "k8s-prod" {
  server = "https://10.0.0.1:6443"
}
rule "k8s-no-delete" {
  endpoint = kubernetes.k8s-prod
  verdict  = "deny"
}
`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual(config.rules[0].endpoints, ["k8s-prod"]);
  equal(config.rules[0].family, "kubernetes");
});

Deno.test("loadConfigText() reports two endpoints claiming the same host", async () => {
  const text = `${HEAD}
endpoint "https" "a" {
  hosts = ["api.example.com", "*.cdn.example.com"]
}
endpoint "https" "b" {
  hosts = ["API.example.com"]
}
endpoint "https" "c" {
  hosts = ["*.CDN.example.com"]
}
`;
  const problems = await problemsOf(text);
  assertProblem(
    problems,
    lineOf(text, 'hosts = ["API.example.com"]'),
    /host "api\.example\.com" is already claimed by endpoint 'a' \(t\.hcl:3\)/,
  );
  assertProblem(
    problems,
    lineOf(text, 'hosts = ["*.CDN.example.com"]'),
    /host "\*\.cdn\.example\.com" is already claimed by endpoint 'a'/,
  );
});

Deno.test("loadConfigText() unescapes $${ and %%{ in strings and rejects interpolation", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}
endpoint "https" "a" {
  hosts = ["a.io"]
}
rule "r" {
  endpoint = https.a
  verdict  = "deny"
  reason   = "templates like $\${x} and %%{if} are literal here; so is $$"
}
`,
    { protocols: PROTOCOLS },
  );
  equal(config.rules[0].reason, "templates like ${x} and %{if} are literal here; so is $$");
  for (const bad of ['"a ${https.a} b"', '"%{ if true }x%{ endif }"', '"$${x} ${y}"']) {
    const text = `${HEAD}defaults {\n  no_match = ${bad}\n}\n`;
    assertProblem(await problemsOf(text), 3, /'no_match' must be a plain string/);
  }
});

Deno.test("loadConfigText() reports a block with too many labels even when it parses alone", async () => {
  const rule = `${HEAD}rule "a" "b" {\n  verdict = "deny"\n}\n`;
  assertProblem(await problemsOf(rule), 2, /rule: expected 1 label/);
  const gateway = `${HEAD}\ngateway "main" {\n}\n`;
  assertProblem(await problemsOf(gateway), 3, /gateway: expected no labels/);
  const endpoint = `${HEAD}endpoint "https" "a" "b" {\n  hosts = ["a.io"]\n}\n`;
  assertProblem(await problemsOf(endpoint), 2, /endpoint: expected 2 labels/);
});

Deno.test("loadConfigText() checks each endpoint protocol's required fields", async () => {
  const text = `${HEAD}
endpoint "https" "no-hosts" {
}
endpoint "https" "empty" {
  hosts = []
}
endpoint "postgres" "pg" {
  sslmode = "sometimes"
}
endpoint "kubernetes" "k8s" {
  server  = "http://10.0.0.1:6443"
  ca_cert = "not a pem"
}
endpoint "kubernetes" "k8s2" {
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, '"no-hosts"'), /missing required attribute 'hosts'/);
  assertProblem(problems, lineOf(text, "hosts = []"), /'hosts' needs at least one host/);
  assertProblem(problems, lineOf(text, '"postgres" "pg"'), /missing required attribute 'host'/);
  assertProblem(problems, lineOf(text, '"postgres" "pg"'), /missing required attribute 'listen'/);
  assertProblem(problems, lineOf(text, "sslmode"), /'sslmode' must be one of "disable"/);
  assertProblem(problems, lineOf(text, "server  ="), /'server' must be an https:\/\/ URL/);
  assertProblem(problems, lineOf(text, "ca_cert"), /'ca_cert' must be a PEM certificate/);
  assertProblem(problems, lineOf(text, '"k8s2"'), /missing required attribute 'server'/);
});
