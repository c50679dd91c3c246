// Rules, credentials and profiles: declaration order, defaults, and the references between them.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

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
