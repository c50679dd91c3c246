import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, type ConfigProblem } from "../core/mod.ts";
import { hclProblems, loadConfig, loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { isHttpsEndpoint } from "../protocols/http/mod.ts";
import { isKubernetesEndpoint } from "../protocols/kubernetes/mod.ts";

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), "testdata");

/** Runs `fn` with a fresh temp dir holding `files`, removing it afterwards. */
async function withDir(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-config-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(dir, name)), { recursive: true });
      await Deno.writeTextFile(join(dir, name), text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function loadProblems(path: string): Promise<ConfigProblem[]> {
  const err = await loadConfig(path, { protocols: PROTOCOLS }).then(
    () => undefined,
    (e: unknown) => e,
  );
  ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
  return err.problems;
}

const GH = `endpoint "https" "gh" {
  hosts = ["api.github.com"]
}
`;

Deno.test("loadConfig() loads the DESIGN.md example with its included certificates", async () => {
  const dir = join(TESTDATA, "full");
  const config = await loadConfig(join(dir, "gateway.hcl"), { protocols: PROTOCOLS });
  deepStrictEqual([...config.endpoints.keys()], ["github", "openai", "billing", "pg", "k8s-prod"]);
  const billing = config.endpoints.get("billing");
  ok(billing && isHttpsEndpoint(billing));
  ok(billing.caCert?.startsWith("-----BEGIN CERTIFICATE-----"));
  equal(billing.upstream, "10.0.0.5:8443");
  const k8s = config.endpoints.get("k8s-prod");
  ok(k8s && isKubernetesEndpoint(k8s));
  ok(k8s.caCert?.includes("-----END CERTIFICATE-----"));
  deepStrictEqual(config.credentials.get("postgres_credential.pg_ro")?.endpoints, ["pg"]);
  deepStrictEqual(config.profiles.get("oncall-bot")?.credentials, [
    "bearer_token.github_pat",
    "postgres_credential.pg_ro",
  ]);
  equal(config.approvers.get("human_approver.ops")?.timeoutMs, 600_000);
  deepStrictEqual(config.rules.map((r) => [r.name, r.order]), [
    ["pg-no-ddl", 0],
    ["github-writes", 1],
  ]);
  equal(config.defaults.humanTimeoutMs, 600_000);
  equal(config.defaults.llmCacheTtlMs, 300_000);
  // Included files count as config files: editing a certificate must trigger a reload.
  deepStrictEqual(config.files, [
    join(dir, "gateway.hcl"),
    join(dir, "internal-ca.pem"),
    join(dir, "certs", "k8s-ca.pem"),
  ]);
});

Deno.test("loadConfig() merges every .hcl file of a directory and ignores other files", async () => {
  await withDir({
    "10-endpoints.hcl": `${HEAD}${GH}`,
    "20-rules.hcl": `rule "r" {\n  endpoint = https.gh\n  verdict  = "deny"\n}\n`,
    "README.md": "not config {",
    "notes.hcl.bak": "not config {",
    ".#20-rules.hcl": "editor lock {",
  }, async (dir) => {
    const config = await loadConfig(dir, { protocols: PROTOCOLS });
    equal(config.path, dir);
    deepStrictEqual(config.files, [join(dir, "10-endpoints.hcl"), join(dir, "20-rules.hcl")]);
    deepStrictEqual(config.rules[0].endpoints, ["gh"]);
    equal(config.rules[0].source.file, join(dir, "20-rules.hcl"));
    equal(config.endpoints.get("gh")?.source.file, join(dir, "10-endpoints.hcl"));
  });
});

Deno.test("loadConfig() orders rules by file name, then by position in the file", async () => {
  const rule = (name: string) =>
    `rule "${name}" {\n  endpoint = https.gh\n  verdict  = "deny"\n}\n`;
  await withDir({
    "b.hcl": rule("b-zulu") + rule("b-alpha"),
    "a.hcl": `${HEAD}${GH}${rule("a-yankee")}${rule("a-bravo")}`,
    "c.hcl": rule("c-only"),
  }, async (dir) => {
    const config = await loadConfig(dir, { protocols: PROTOCOLS });
    deepStrictEqual(
      config.rules.map((r) => [r.name, r.order]),
      [["a-yankee", 0], ["a-bravo", 1], ["b-zulu", 2], ["b-alpha", 3], ["c-only", 4]],
    );
  });
});

Deno.test("loadConfig() reports a name defined in two files at both locations", async () => {
  const rule = `\n\nrule "dup" {\n  endpoint = https.gh\n  verdict  = "deny"\n}\n`;
  await withDir({
    "a.hcl": `${HEAD}${GH}${rule}`,
    "b.hcl": rule,
    "c.hcl": GH,
  }, async (dir) => {
    const problems = await loadProblems(dir);
    const first = join(dir, "a.hcl");
    const firstLine = lineOf(`${HEAD}${GH}${rule}`, 'rule "dup"');
    assertProblem(
      problems,
      lineOf(rule, 'rule "dup"'),
      new RegExp(`duplicate rule name 'dup' \\(first defined at ${first}:${firstLine}\\)`),
      join(dir, "b.hcl"),
    );
    assertProblem(
      problems,
      1,
      new RegExp(`duplicate endpoint name 'gh' \\(first defined at ${first}:2\\)`),
      join(dir, "c.hcl"),
    );
    equal(problems.length, 2, problems.map((p) => p.message).join("\n"));
  });
});

Deno.test("loadConfig() reports each file's problems against that file", async () => {
  await withDir({
    "a.hcl": `${HEAD}${GH}\nbogus = 1\n`,
    "b.hcl": `\nrule "r" {\n  endpoint = https.gh\n  verbb    = "deny"\n}\n`,
  }, async (dir) => {
    const problems = await loadProblems(dir);
    const a = `${HEAD}${GH}\nbogus = 1\n`;
    assertProblem(
      problems,
      lineOf(a, "bogus"),
      /unknown block or attribute 'bogus'/,
      join(dir, "a.hcl"),
    );
    assertProblem(problems, 2, /needs 'verdict/, join(dir, "b.hcl"));
    assertProblem(problems, 4, /unknown attribute or block 'verbb'/, join(dir, "b.hcl"));
  });
});

Deno.test("loadConfig() needs schema_version in only one file of a directory", async () => {
  await withDir({ "a.hcl": GH, "b.hcl": HEAD }, async (dir) => {
    equal((await loadConfig(dir, { protocols: PROTOCOLS })).endpoints.size, 1);
  });
  await withDir(
    { "a.hcl": GH, "b.hcl": GH.replace('"gh"', '"gh2"').replace("api.", "x.") },
    async (dir) => {
      assertProblem(await loadProblems(dir), 1, /missing 'schema_version = 1'/, join(dir, "a.hcl"));
    },
  );
});

Deno.test("loadConfig() follows symlinked files in a config directory", async () => {
  await withDir({ "real/gateway.hcl": `${HEAD}${GH}` }, async (dir) => {
    const conf = join(dir, "conf.d");
    await Deno.mkdir(conf);
    await Deno.symlink(join(dir, "real", "gateway.hcl"), join(conf, "gateway.hcl"));
    const config = await loadConfig(conf, { protocols: PROTOCOLS });
    equal(config.endpoints.get("gh")?.protocol, "https");
  });
});

Deno.test("loadConfig() reports a dangling symlink instead of silently skipping it", async () => {
  await withDir({ "a.hcl": `${HEAD}${GH}` }, async (dir) => {
    await Deno.symlink(join(dir, "gone.hcl"), join(dir, "b.hcl"));
    const problems = await loadProblems(dir);
    ok(problems.some((p) => p.file === join(dir, "b.hcl") && /Cannot read/.test(p.message)));
  });
});

Deno.test("loadConfig() gives a clear message for a missing config path", async () => {
  await withDir({}, async (dir) => {
    const missing = join(dir, "nope.hcl");
    const err = await loadConfig(missing, { protocols: PROTOCOLS }).then(
      () => undefined,
      (e: unknown) => e,
    );
    ok(err instanceof ConfigError);
    equal(err.problems.length, 1);
    equal(err.problems[0].file, missing);
    ok(/Cannot read config: no such file or directory/.test(err.message), err.message);
    ok(err.message.includes("clawpatrol init"), err.message);
    ok(err.message.startsWith(`${missing}: `), err.message);
  });
});

Deno.test("loadConfig() reports a directory without .hcl files", async () => {
  await withDir({ "README.md": "hi" }, async (dir) => {
    const problems = await loadProblems(dir);
    deepStrictEqual(problems.map((p) => p.message), ["Config directory holds no .hcl files"]);
  });
});

Deno.test("loadConfig() resolves <<file:…>> relative to the including file's directory", async () => {
  const pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  await withDir({
    "etc/gateway.hcl": `${HEAD}endpoint "https" "b" {
  hosts   = ["b.internal"]
  ca_cert = "<<file:certs/ca.pem>>"
}
credential "api_key" "anthropic" {}
approver "llm_approver" "judge" {
  provider   = "anthropic"
  model      = "m"
  policy     = "<<file:../policy.txt>>"
  credential = api_key.anthropic
}
`,
    "etc/certs/ca.pem": pem,
    "policy.txt": "Deny anything destructive.\n",
  }, async (dir) => {
    // Loaded from elsewhere: the cwd must not matter.
    const config = await loadConfig(join(dir, "etc", "gateway.hcl"), { protocols: PROTOCOLS });
    const b = config.endpoints.get("b");
    ok(b && isHttpsEndpoint(b));
    equal(b.caCert, pem);
    equal(
      config.approvers.get("llm_approver.judge")?.settings.policy,
      "Deny anything destructive.\n",
    );
  });
});

Deno.test("loadConfig() reports a missing include on the line that names it", async () => {
  const text = `${HEAD}
# ca_cert = "<<file:missing.pem>>" (a comment must not be mistaken for the attribute)
endpoint "https" "a" {
  hosts   = ["a.internal"]
  ca_cert = "<<file:missing.pem>>"
}
endpoint "https" "b" {
  hosts   = ["b.internal"]

  ca_cert = "<<file:missing.pem>>"
}
`;
  await withDir({ "gateway.hcl": text }, async (dir) => {
    const problems = await loadProblems(join(dir, "gateway.hcl"));
    const file = join(dir, "gateway.hcl");
    assertProblem(
      problems,
      lineOf(text, "ca_cert", 1),
      /Cannot include 'missing\.pem'.*no such file/,
      file,
    );
    assertProblem(
      problems,
      lineOf(text, "ca_cert", 2),
      /Cannot include 'missing\.pem'.*no such file/,
      file,
    );
    ok(problems.every((p) => p.message.includes(join(dir, "missing.pem"))));
  });
});

Deno.test("loadConfig() refuses to include a directory or an oversized file", async () => {
  await withDir({
    "gateway.hcl": `${HEAD}endpoint "https" "a" {
  hosts   = ["a.internal"]
  ca_cert = "<<file:certs>>"
}
endpoint "https" "b" {
  hosts   = ["b.internal"]
  ca_cert = "<<file:big.pem>>"
}
`,
    "certs/x.pem": "x",
    "big.pem": "x".repeat(1024 * 1024 + 1),
  }, async (dir) => {
    const problems = await loadProblems(join(dir, "gateway.hcl"));
    assertProblem(problems, 4, /Cannot include 'certs'/);
    assertProblem(problems, 8, /Cannot include 'big\.pem'.*larger than/);
  });
});

Deno.test("loadConfigText() resolves includes against the base directory it is given", async () => {
  await withDir({ "policy.txt": "be careful" }, async (dir) => {
    const config = await loadConfigText(
      "stdin",
      `${HEAD}approver "llm_approver" "j" {\n  provider = "openai"\n  model = "m"\n  policy = "<<file:policy.txt>>"\n  base_url = "http://127.0.0.1:11434/v1"\n}\n`,
      { protocols: PROTOCOLS, baseDir: dir },
    );
    equal(config.approvers.get("llm_approver.j")?.settings.policy, "be careful");
  });
});

Deno.test("loadConfigText() reports an HCL syntax error with its line", async () => {
  const text = `${HEAD}rule "r" {\n  verdict = \n}\n`;
  const problems = await problemsOf(text, "syntax.hcl");
  equal(problems.length, 1);
  equal(problems[0].file, "syntax.hcl");
  equal(problems[0].line, 3);
  ok(/Invalid expression/.test(problems[0].message), problems[0].message);
});

Deno.test("loadConfigText() reports several HCL syntax errors as several problems, by line", async () => {
  const text = `${HEAD}rule "a" {
  verdict = "deny"
  x = [1,
}
rule "b" {
  y = "unterminated
}
`;
  const problems = await problemsOf(text, "many.hcl");
  assertProblem(problems, lineOf(text, "x = [1,") + 1, /Invalid expression/);
  assertProblem(problems, lineOf(text, "unterminated"), /Invalid multi-line string/);
  ok(problems.every((p) => p.file === "many.hcl"));
  const lines = problems.map((p) => p.line);
  deepStrictEqual(lines, [...lines].sort((x, y) => x - y));
});

Deno.test("loadConfigText() explains a one-line block with several attributes", async () => {
  const text = `${HEAD}endpoint "https" "a" { hosts = ["a.io"], upstream = "1.2.3.4:443" }\n`;
  const problems = await problemsOf(text);
  assertProblem(problems, 2, /put each attribute on its own line/);
});

Deno.test("loadConfigText() locates blocks whose label counts differ within one file", async () => {
  // hcl2json refuses these outright, without a line.
  const text = `${HEAD}
rule "ok" {
  verdict = "deny"
}
rule {
  verdict = "deny"
}
`;
  const problems = await problemsOf(text);
  deepStrictEqual(problems.map((p) => [p.line, p.message.split(",")[0]]), [
    [lineOf(text, "rule {"), "rule: expected 1 label"],
  ]);
});

Deno.test("hclProblems() splits hcl2json's message into located problems", () => {
  const message = "parse config: [dir/f.hcl:7,20-8,1: Invalid multi-line string; Quoted strings " +
    "may not be split over multiple lines. dir/f.hcl:5,1-2: Invalid expression; Expected the " +
    'start of an expression. dir/f.hcl:3,3-4: Attribute redefined; The argument "a" was already ' +
    "set at dir/f.hcl:2,3-4. Each argument may be set only once.]";
  deepStrictEqual(hclProblems("dir/f.hcl", message), [
    {
      file: "dir/f.hcl",
      line: 7,
      message: "Invalid multi-line string: Quoted strings may not be split over multiple lines",
    },
    {
      file: "dir/f.hcl",
      line: 5,
      message: "Invalid expression: Expected the start of an expression",
    },
    {
      file: "dir/f.hcl",
      line: 3,
      message: 'Attribute redefined: The argument "a" was already set at dir/f.hcl:2,3-4. ' +
        "Each argument may be set only once",
    },
  ]);
});

Deno.test("hclProblems() keeps a message it cannot locate, at line 0", () => {
  deepStrictEqual(hclProblems("f.hcl", "parse config: something odd"), [
    { file: "f.hcl", line: 0, message: "something odd" },
  ]);
});

Deno.test("hclProblems() handles file names with regex characters", () => {
  const problems = hclProblems("a+(b).hcl", "parse config: [a+(b).hcl:4,1-2: Bad; Detail.]");
  deepStrictEqual(problems, [{ file: "a+(b).hcl", line: 4, message: "Bad: Detail" }]);
});

Deno.test("loadConfig() reports a missing include together with the config's other problems", async () => {
  const text = `${HEAD}endpoint "https" "a" {
  hosts   = ["a.io"]
  ca_cert = "<<file:nope.pem>>"
}
bogus = 1
`;
  await withDir({ "gateway.hcl": text }, async (dir) => {
    const problems = await loadProblems(dir);
    deepStrictEqual(problems.map((p) => [p.line, p.message.split(" (")[0]]), [
      [lineOf(text, "ca_cert"), "Cannot include 'nope.pem'"],
      [lineOf(text, "bogus"), "top level: unknown block or attribute 'bogus'"],
    ]);
  });
});
