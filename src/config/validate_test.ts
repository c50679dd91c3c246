import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ConfigError } from "../core/mod.ts";
import { loadConfigText } from "./load.ts";
import { defaultDefaults, defaultGateway } from "./validate.ts";
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

Deno.test("loadConfigText() without gateway or defaults blocks fails closed", async () => {
  const config = await loadConfigText("t.hcl", HEAD, { protocols: PROTOCOLS });
  equal(config.defaults.noMatch, "deny");
  equal(config.defaults.unknownHost, "deny");
  equal(config.defaults.humanOnTimeout, "deny");
  equal(config.defaults.llmFailMode, "closed");
  equal(config.defaults.misplacedPlaceholder, "deny");
  equal(config.gateway.mode, "enforce");
  deepStrictEqual(config.defaults, defaultDefaults());
  deepStrictEqual(config.gateway, defaultGateway());
  equal(config.rules.length, 0);
  equal(config.endpoints.size, 0);
});

Deno.test("loadConfigText() keeps defaults for fields an empty block leaves out", async () => {
  const config = await loadConfigText("t.hcl", `${HEAD}gateway {\n}\ndefaults {\n}\n`, {
    protocols: PROTOCOLS,
  });
  deepStrictEqual(config.defaults, defaultDefaults());
  deepStrictEqual(config.gateway, defaultGateway());
});

Deno.test("loadConfigText() reads durations as seconds or with ms/s/m/h units", async () => {
  const cases: [string, number][] = [
    ["30", 30_000],
    ['"30s"', 30_000],
    ['"10m"', 600_000],
    ['"500ms"', 500],
    ['"1h"', 3_600_000],
    ["0.5", 500],
  ];
  for (const [written, ms] of cases) {
    const config = await loadConfigText(
      "t.hcl",
      `${HEAD}defaults {\n  human_timeout = ${written}\n  llm_cache_ttl = ${written}\n}\n`,
      { protocols: PROTOCOLS },
    );
    equal(config.defaults.humanTimeoutMs, ms, written);
    equal(config.defaults.llmCacheTtlMs, ms, written);
  }
});

Deno.test("loadConfigText() rejects malformed durations on their line", async () => {
  for (const bad of ['"ten minutes"', '"-5s"', "-1", '"1d"', "true", '"10 m s"', "[30]"]) {
    const text = `${HEAD}defaults {\n  llm_cache_ttl = ${bad}\n}\n`;
    assertProblem(await problemsOf(text), 3, /'llm_cache_ttl' must be a duration/);
  }
});

Deno.test("loadConfigText() reads sizes as bytes or with KiB/MiB units", async () => {
  const cases: [string, number][] = [
    ["1048576", 1_048_576],
    ['"1MiB"', 1_048_576],
    ['"64KiB"', 65_536],
    ['"2MB"', 2_000_000],
  ];
  for (const [written, bytes] of cases) {
    const config = await loadConfigText(
      "t.hcl",
      `${HEAD}gateway {\n  limits {\n    body_buffer = ${written}\n  }\n}\n`,
      { protocols: PROTOCOLS },
    );
    equal(config.gateway.limits.bodyBufferBytes, bytes, written);
  }
});

Deno.test("loadConfigText() rejects malformed sizes on their line", async () => {
  for (const bad of ['"lots"', '"1.5MiB"', "-1", "1.5", '"1 parsec"']) {
    const text = `${HEAD}gateway {\n  limits {\n    body_buffer = ${bad}\n  }\n}\n`;
    assertProblem(await problemsOf(text), 4, /'body_buffer' must be a size/);
  }
});

Deno.test("loadConfigText() reads gateway limits and keeps defaults for those left out", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}gateway {\n  limits {\n    receipt_queue  = 5\n    header_timeout = "2s"\n    idle_timeout = "1m"\n    receipt_commit_interval = "5ms"\n    receipt_durability = "all"\n    max_connections_per_agent = 3\n    max_unauthenticated_connections = 4\n    handshake_timeout = "3s"\n  }\n}\n`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual(config.gateway.limits, {
    bodyBufferBytes: defaultGateway().limits.bodyBufferBytes,
    receiptQueue: 5,
    receiptCommitIntervalMs: 5,
    receiptDurability: "all",
    maxConnectionsPerAgent: 3,
    maxUnauthenticatedConnections: 4,
    handshakeTimeoutMs: 3000,
    headerTimeoutMs: 2000,
    idleTimeoutMs: 60_000,
    upstreamTimeoutMs: defaultGateway().limits.upstreamTimeoutMs,
  });
});

Deno.test("loadConfigText() refuses bad durability and connection limits on their lines", async () => {
  const text = (field: string, value: string) =>
    `${HEAD}gateway {\n  limits {\n    ${field} = ${value}\n  }\n}\n`;
  assertProblem(
    await problemsOf(text("receipt_durability", '"some"')),
    4,
    /receipt_durability/,
  );
  assertProblem(
    await problemsOf(text("max_connections_per_agent", "0")),
    4,
    /'max_connections_per_agent' must be at least 1/,
  );
  assertProblem(
    await problemsOf(text("max_unauthenticated_connections", "0")),
    4,
    /'max_unauthenticated_connections' must be at least 1/,
  );
});

Deno.test("loadConfigText() accepts host:port listen addresses and rejects others", async () => {
  for (const good of ["127.0.0.1:8080", "localhost:1", "[::1]:8443", "0.0.0.0:65535"]) {
    const config = await loadConfigText(
      "t.hcl",
      `${HEAD}gateway {\n  proxy_listen = "${good}"\n}\n`,
      { protocols: PROTOCOLS },
    );
    equal(config.gateway.proxyListen, good);
  }
  for (const bad of ["8080", ":8080", "127.0.0.1", "127.0.0.1:65536", "host:port", "a b:1"]) {
    const text = `${HEAD}gateway {\n  proxy_listen = "${bad}"\n}\n`;
    assertProblem(await problemsOf(text), 3, /'proxy_listen' must be host:port/);
  }
});

Deno.test("loadConfigText() reports a second gateway block against its own line", async () => {
  const text = `${HEAD}gateway {\n}\n\ngateway {\n}\n`;
  assertProblem(await problemsOf(text), 5, /gateway: defined more than once \(first at t\.hcl:2\)/);
});

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

const ENDPOINTS = `${HEAD}
endpoint "https" "gh" {
  hosts = ["api.github.com"]
}
endpoint "https" "ghe" {
  hosts = ["github.example.com"]
}
endpoint "postgres" "pg" {
  host   = "db.internal:5432"
  listen = "127.0.0.1:15432"
}
credential "bearer_token" "gh_pat" {
  endpoint = https.gh
}
credential "bearer_token" "ghe_pat" {
  endpoint = https.ghe
}
approver "human_approver" "ops" {
  slack_channel = "#ops"
}
`;

Deno.test("loadConfigText() keeps rules in declaration order, not alphabetical order", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${ENDPOINTS}
rule "zulu" {
  endpoint = https.gh
  verdict  = "deny"
}
rule "alpha" {
  endpoint = https.gh
  verdict  = "allow"
}
rule "10-numeric" {
  endpoint = https.gh
  verdict  = "deny"
}
rule "9" {
  endpoint = https.gh
  verdict  = "deny"
}
`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual(config.rules.map((r) => r.name), ["zulu", "alpha", "10-numeric", "9"]);
  deepStrictEqual(config.rules.map((r) => r.order), [0, 1, 2, 3]);
});

Deno.test("loadConfigText() keeps endpoints and credentials in declaration order", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}
endpoint "https" "zz" {
  hosts = ["z.io"]
}
endpoint "postgres" "mm" {
  host   = "db:5432"
  listen = "127.0.0.1:1"
}
endpoint "https" "aa" {
  hosts = ["a.io"]
}
credential "bearer_token" "z" {
  endpoint = https.zz
}
credential "bearer_token" "a" {
  endpoint = https.aa
}
`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual([...config.endpoints.keys()], ["zz", "mm", "aa"]);
  deepStrictEqual([...config.credentials.keys()], ["bearer_token.z", "bearer_token.a"]);
});

Deno.test("loadConfigText() reads a rule's fields and fills the documented defaults", async () => {
  const text = `${ENDPOINTS}
rule "deny-all" {
  endpoint = https.gh
  verdict  = "deny"
}
rule "full" {
  endpoints  = [https.gh, https.ghe]
  priority   = -5
  condition  = "http.method == 'delete'"
  approve    = [human_approver.ops]
  reason     = "deletes need a human"
  mode       = "observe"
  credential = bearer_token.gh_pat
}
`;
  const config = await loadConfigText("t.hcl", text, { protocols: PROTOCOLS });
  const [plain, full] = config.rules;
  equal(plain.priority, 0);
  equal(plain.condition, "true");
  equal(plain.verdict, "deny");
  deepStrictEqual(plain.approve, []);
  equal(plain.mode, null);
  equal(plain.credential, null);
  equal(plain.family, "https");
  ok(plain.reason.includes("deny-all"));
  deepStrictEqual(plain.source, { file: "t.hcl", line: lineOf(text, 'rule "deny-all"') });

  deepStrictEqual(full.endpoints, ["gh", "ghe"]);
  equal(full.priority, -5);
  equal(full.condition, "http.method == 'delete'");
  deepStrictEqual(full.conditionSource, { file: "t.hcl", line: lineOf(text, "condition  =") });
  equal(full.verdict, null);
  deepStrictEqual(full.approve, ["human_approver.ops"]);
  equal(full.reason, "deletes need a human");
  equal(full.mode, "observe");
  equal(full.credential, "bearer_token.gh_pat");
});

Deno.test("loadConfigText() needs a rule to have a verdict or approvers, not both", async () => {
  const neither = `${ENDPOINTS}rule "r" {\n  endpoint = https.gh\n}\n`;
  assertProblem(
    await problemsOf(neither),
    lineOf(neither, 'rule "r"'),
    /needs 'verdict = "allow"\|"deny"' or 'approve'/,
  );
  const both = `${ENDPOINTS}rule "r" {
  endpoint = https.gh
  verdict  = "allow"
  approve  = [human_approver.ops]
}
`;
  assertProblem(
    await problemsOf(both),
    lineOf(both, "approve  ="),
    /set 'verdict' or 'approve', not both/,
  );
  const empty = `${ENDPOINTS}rule "r" {\n  endpoint = https.gh\n  approve  = []\n}\n`;
  assertProblem(
    await problemsOf(empty),
    lineOf(empty, "approve  = []"),
    /'approve' needs at least one approver/,
  );
});

Deno.test("loadConfigText() reports approve entries that name credentials or missing approvers", async () => {
  const text = `${ENDPOINTS}rule "r" {
  endpoint = https.gh
  approve  = [bearer_token.gh_pat]
}
rule "s" {
  endpoint = https.gh
  approve  = [human_approver.nobody]
}
`;
  const problems = await problemsOf(text);
  assertProblem(
    problems,
    lineOf(text, "approve  = [bearer_token"),
    /'approve' refers to 'bearer_token\.gh_pat', but must refer to llm_approver\.\*/,
  );
  assertProblem(
    problems,
    lineOf(text, "approve  = [human_approver.nobody]"),
    /'approve' refers to undefined approver 'human_approver\.nobody'/,
  );
});

Deno.test("loadConfigText() requires a rule's credential to be bound to its endpoint", async () => {
  const text = `${ENDPOINTS}rule "r" {
  endpoint   = https.gh
  verdict    = "deny"
  credential = bearer_token.ghe_pat
}
`;
  assertProblem(
    await problemsOf(text),
    lineOf(text, "credential = bearer_token.ghe_pat"),
    /credential 'bearer_token\.ghe_pat' is not bound to this rule's endpoint/,
  );
  const wrongKind = `${ENDPOINTS}rule "r" {
  endpoint   = https.gh
  verdict    = "deny"
  credential = human_approver.ops
}
`;
  assertProblem(
    await problemsOf(wrongKind),
    lineOf(wrongKind, "credential = human_approver.ops"),
    /'credential' refers to 'human_approver\.ops', but must refer to bearer_token\.\*/,
  );
});

Deno.test("loadConfigText() rejects a rule spanning endpoints of two families", async () => {
  const text = `${ENDPOINTS}rule "r" {
  endpoints = [https.gh, postgres.pg]
  verdict   = "deny"
}
`;
  assertProblem(
    await problemsOf(text),
    lineOf(text, "endpoints = [https.gh, postgres.pg]"),
    /rule mixes protocol families \(https, postgres\)/,
  );
  const both = `${ENDPOINTS}rule "r" {
  endpoint  = https.gh
  endpoints = [https.ghe]
  verdict   = "deny"
}
`;
  assertProblem(
    await problemsOf(both),
    lineOf(both, "endpoints = [https.ghe]"),
    /set 'endpoint' or 'endpoints', not both/,
  );
});

Deno.test("loadConfigText() binds credentials to endpoints of their own family only", async () => {
  const text = `${ENDPOINTS}
credential "postgres_credential" "pg_ro" {
  endpoint = https.gh
  user     = "ro"
}
credential "bearer_token" "pg_token" {
  endpoints = [https.gh, postgres.pg]
}
credential "postgres_credential" "no_user" {
  endpoint = postgres.pg
}
`;
  const problems = await problemsOf(text);
  assertProblem(
    problems,
    lineOf(text, "endpoint = https.gh", 2),
    /'endpoint' refers to 'https\.gh', but must refer to postgres\.\*/,
  );
  assertProblem(
    problems,
    lineOf(text, "endpoints = [https.gh, postgres.pg]"),
    /'endpoints' refers to 'postgres\.pg', but must refer to https\.\*/,
  );
  assertProblem(
    problems,
    lineOf(text, 'credential "postgres_credential" "no_user"'),
    /missing required attribute 'user'/,
  );
});

Deno.test("loadConfigText() reads profiles and reports references they cannot resolve", async () => {
  const good = await loadConfigText(
    "t.hcl",
    `${ENDPOINTS}profile "bot" {\n  endpoints   = [https.ghe]\n  credentials = [bearer_token.gh_pat]\n}\n`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual(good.profiles.get("bot")?.endpoints, ["ghe"]);
  deepStrictEqual(good.profiles.get("bot")?.credentials, ["bearer_token.gh_pat"]);
  const text = `${ENDPOINTS}profile "bot" {
  endpoints   = ["https.gh"]
  credentials = [bearer_token.missing]
}
profile "bot" {
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, 'endpoints   = ["https.gh"]'), /without quotes/);
  assertProblem(
    problems,
    lineOf(text, "credentials = [bearer_token.missing]"),
    /undefined credential 'bearer_token\.missing'/,
  );
  assertProblem(problems, lineOf(text, 'profile "bot"', 1), /duplicate profile 'bot'/);
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

Deno.test("loadConfigText() checks approver settings", async () => {
  const text = `${HEAD}
approver "llm_approver" "judge" {
  provider = "skynet"
  role     = "king"
}
approver "webhook_approver" "hook" {
  url = "ftp://example.com"
}
approver "human_approver" "ops" {
  quorum     = 0
  credential = slack_tokens.missing
}
approver "robot_approver" "r" {
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, '"judge"'), /missing required attribute 'model'/);
  assertProblem(problems, lineOf(text, "provider"), /'provider' must be "anthropic" or "openai"/);
  assertProblem(problems, lineOf(text, "role"), /'role' must be "judge" or "deny_only"/);
  assertProblem(problems, lineOf(text, "url ="), /'url' must be an http\(s\) URL/);
  assertProblem(problems, lineOf(text, "quorum"), /'quorum' must be at least 1/);
  assertProblem(
    problems,
    lineOf(text, "credential = slack_tokens.missing"),
    /undefined credential 'slack_tokens\.missing'/,
  );
  assertProblem(problems, lineOf(text, '"robot_approver"'), /unknown approver kind/);
});

Deno.test("loadConfigText() refuses approvers that could not work: missing or wrong-kind secrets", async () => {
  const text = `${HEAD}
credential "api_key" "key" {}
credential "webhook_secret" "hook" {}
approver "webhook_approver" "unsigned" {
  url = "https://hooks.example/approve"
}
approver "webhook_approver" "wrong" {
  url        = "https://hooks.example/approve"
  credential = api_key.key
}
approver "llm_approver" "keyless" {
  provider = "anthropic"
  model    = "m"
}
approver "llm_approver" "badurl" {
  provider   = "openai"
  model      = "m"
  base_url   = "localhost:11434"
  credential = webhook_secret.hook
}
approver "llm_approver" "local" {
  provider = "openai"
  model    = "llama"
  base_url = "http://127.0.0.1:11434/v1"
}
approver "human_approver" "ops" {
  slack_channel = "#ops"
  credential    = api_key.key
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, '"unsigned"'), /missing required attribute 'credential'/);
  assertProblem(
    problems,
    lineOf(text, "credential = api_key.key"),
    /must be a webhook_secret credential, got 'api_key\.key'/,
  );
  assertProblem(
    problems,
    lineOf(text, '"keyless"'),
    /'credential' \(an api_key for the anthropic API/,
  );
  assertProblem(problems, lineOf(text, "base_url   ="), /'base_url' must be an http\(s\) URL/);
  assertProblem(
    problems,
    lineOf(text, "credential = webhook_secret"),
    /must be an api_key credential/,
  );
  assertProblem(
    problems,
    lineOf(text, "credential    = api_key.key"),
    /must be a slack_tokens credential/,
  );
  // A local OpenAI-compatible server needs no key.
  equal(problems.some((p) => p.line === lineOf(text, '"local"')), false);
});

Deno.test("loadConfigText() reports a repeated limits block, a receipt queue below 1 and a long commit interval", async () => {
  const text = `${HEAD}gateway {
  limits {
    receipt_queue = 0
    receipt_commit_interval = "2s"
  }
  limits {
    body_buffer = "lots"
  }
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, "receipt_queue"), /'receipt_queue' must be at least 1/);
  assertProblem(
    problems,
    lineOf(text, "receipt_commit_interval"),
    /'receipt_commit_interval' must be at most 1s/,
  );
  assertProblem(problems, lineOf(text, "limits {", 1), /^gateway\.limits: defined more than once/);
  // The second block's own mistakes point into the second block.
  assertProblem(problems, lineOf(text, "body_buffer"), /'body_buffer' must be a size/);
});

Deno.test("loadConfigText() refuses two credentials sharing a placeholder or a name across kinds", async () => {
  const text = `${ENDPOINTS}
credential "header_token" "gh_pat" {
  endpoint = https.gh
  header   = "X-Token"
}
credential "bearer_token" "custom" {
  endpoint    = https.ghe
  placeholder = "{{ghe_pat}}"
}
credential "bearer_token" "short" {
  endpoint    = https.ghe
  placeholder = "ab cd"
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, `"header_token" "gh_pat"`), /name 'gh_pat' is already used/);
  assertProblem(
    problems,
    lineOf(text, `placeholder = "{{ghe_pat}}"`),
    /already used by credential "bearer_token" "ghe_pat"/,
  );
  assertProblem(problems, lineOf(text, `placeholder = "ab cd"`), /6 to 200 printable/);
});
