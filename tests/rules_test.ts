// `clawpatrol test`: the starter packs' fixtures pass with full coverage, and every kind of broken
// fixture fails loudly with the right exit code.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, REPO, withTempDir } from "./_helpers.ts";

const RULES = join(REPO, "rules");
const FIXTURES = join(REPO, "tests", "rules");

async function fixtureFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(FIXTURES)) {
    if (e.isFile && e.name.endsWith(".yaml")) files.push(join(FIXTURES, e.name));
  }
  return files.sort();
}

/** Every rule name declared in the starter packs. */
async function packRuleNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(RULES)) {
    if (!e.name.endsWith(".hcl")) continue;
    const text = await Deno.readTextFile(join(RULES, e.name));
    for (const m of text.matchAll(/^rule\s+"([^"]+)"/gm)) names.push(m[1]);
  }
  return names;
}

Deno.test("the starter packs' fixtures all pass and exercise every rule", async () => {
  const files = await fixtureFiles();
  // Every pack but base.hcl (endpoints and approvers only) has its fixtures under the same name.
  for await (const e of Deno.readDir(RULES)) {
    if (!e.name.endsWith(".hcl") || e.name === "base.hcl") continue;
    const fixture = join(FIXTURES, e.name.replace(/\.hcl$/, ".yaml"));
    ok(files.includes(fixture), `${e.name} has no fixtures: ${fixture}`);
  }
  const r = await cli(["-c", RULES, "test", ...files, "--require-coverage"]);
  equal(r.code, 0, r.stdout + r.stderr);
  match(r.stdout, /^\d+ passed, 0 failed$/m);
  const rules = await packRuleNames();
  match(r.stdout, new RegExp(`^coverage: all ${rules.length} rules exercised$`, "m"));
  equal(r.stdout.includes("FAIL"), false, r.stdout);
});

Deno.test("a fixture expecting the wrong verdict and rule fails and names the case", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "wrong.yaml");
    await Deno.writeTextFile(
      file,
      `- name: listing pull requests is allowed
  endpoint: github
  facts: { http: { method: GET, path: /repos/acme/api/pulls } }
  expect: { verdict: allow, rule: github-reads }
- name: deleting a repository is wrongly expected to be allowed
  endpoint: github
  facts: { http: { method: DELETE, path: /repos/acme/api } }
  expect: { verdict: allow, rule: github-reads }
`,
    );
    const r = await cli(["-c", RULES, "test", file]);
    equal(r.code, 1, r.stdout + r.stderr);
    const fails = r.stdout.split("\n").filter((l) => l.startsWith("FAIL"));
    equal(fails.length, 1, r.stdout);
    match(fails[0], /wrong\.yaml: deleting a repository is wrongly expected to be allowed:/);
    match(fails[0], /expected allow, got deny/);
    match(fails[0], /expected rule github-reads, got github-destructive/);
    match(r.stdout, /^1 passed, 1 failed$/m);
  });
});

Deno.test("a fixture naming an unknown endpoint or fact field fails clearly", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "unknown.yaml");
    await Deno.writeTextFile(
      file,
      `cases:
  - name: endpoint typo
    endpoint: gihtub
    facts: { http: { method: GET, path: / } }
    expect: { verdict: allow }
  - name: fact field typo
    endpoint: github
    facts: { http: { methd: GET, path: / } }
    expect: { verdict: allow }
`,
    );
    const r = await cli(["-c", RULES, "test", file]);
    equal(r.code, 1, r.stdout + r.stderr);
    match(r.stdout, /^FAIL .*unknown\.yaml: endpoint typo: .*no endpoint named 'gihtub'/m);
    match(r.stdout, /^FAIL .*unknown\.yaml: fact field typo: .*Unknown fact 'http\.methd'/m);
    match(r.stdout, /^0 passed, 2 failed$/m);
  });
});

Deno.test("a kubernetes fixture given as a request gets the gateway's k8s facts", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "requests.yaml");
    // Each verdict depends on a derived fact no case spells out: the namespace and the
    // deletecollection verb of a DELETE without a name, exec from a WebSocket GET, the secrets
    // resource behind a /watch/ path, the pod spec in a body.
    await Deno.writeTextFile(
      file,
      `- name: deletecollection in prod
  endpoint: cluster
  request: { method: delete, path: /api/v1/namespaces/prod/pods, query: { labelSelector: a=b } }
  expect: { verdict: deny, rule: k8s-protected-deletes }
- name: websocket exec
  endpoint: cluster
  request: { method: GET, path: /api/v1/namespaces/dev/pods/p/exec, query: { command: [sh] } }
  expect: { verdict: approve, rule: k8s-interactive }
- name: legacy watch path
  endpoint: cluster
  request: { method: GET, path: /api/v1/watch/secrets }
  expect: { verdict: deny, rule: k8s-no-secrets }
- name: privileged pod body
  endpoint: cluster
  request:
    method: POST
    path: /api/v1/namespaces/dev/pods
    body: { spec: { containers: [{ securityContext: { privileged: true } }] } }
  expect: { verdict: deny, rule: k8s-no-privileged-pods }
- name: facts.http alone is a request too
  endpoint: cluster
  facts: { http: { method: DELETE, path: /api/v1/namespaces/scratch } }
  expect: { verdict: deny, rule: k8s-protected-deletes }
- name: an explicit k8s fact wins over the derived one
  endpoint: cluster
  request: { method: GET, path: /api/v1/namespaces/dev/configmaps }
  facts: { k8s: { resource: secrets } }
  expect: { verdict: deny, rule: k8s-no-secrets }
- name: an explicit http fact wins over the request
  endpoint: cluster
  request: { method: GET, path: /api/v1/namespaces/prod/pods/p }
  facts: { http: { method: DELETE } }
  expect: { verdict: deny, rule: k8s-protected-deletes }
- name: an https endpoint takes a request too
  endpoint: github
  request: { method: DELETE, path: /repos/acme/api }
  expect: { verdict: deny, rule: github-destructive }
`,
    );
    const r = await cli(["-c", RULES, "test", file]);
    equal(r.code, 0, r.stdout + r.stderr);
    match(r.stdout, /^8 passed, 0 failed$/m);
  });
});

Deno.test("a misspelt or ill-typed request field fails its case clearly", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "bad_requests.yaml");
    const cases: [string, string][] = [
      ["verb typo", "request: { method: GET, path: /api/v1/pods, verb: list }"],
      ["unquoted flag", "request: { method: GET, path: /api/v1/pods, query: { watch: true } }"],
      ["query in path", "request: { method: GET, path: /api/v1/pods?watch=1 }"],
      ["no method", "request: { path: /api/v1/pods }"],
      ["scalar body", "request: { method: POST, path: /api/v1/namespaces/a/pods, body: pod }"],
      ["not a mapping", "request: GET /api/v1/pods"],
    ];
    await Deno.writeTextFile(
      file,
      cases.map(([name, request]) =>
        `- name: ${name}
  endpoint: cluster
  ${request}
  expect: { verdict: allow }
`
      ).join("") +
        `- name: request on postgres
  endpoint: db
  request: { method: GET, path: / }
  expect: { verdict: allow }
`,
    );
    const r = await cli(["-c", RULES, "test", file]);
    equal(r.code, 1, r.stdout + r.stderr);
    const problems = Object.fromEntries(
      r.stdout.split("\n").filter((l) => l.startsWith("FAIL ")).map((l) => {
        const [, name, problem] = /^FAIL [^:]+: ([^:]+): (.*)$/.exec(l)!;
        return [name, problem];
      }),
    );
    equal(
      problems["verb typo"],
      "unknown field 'request.verb' (fields: method, path, query, body)",
    );
    match(
      problems["unquoted flag"],
      /^'request\.query\.watch' must be a string or a list of strings, got true/,
    );
    match(problems["query in path"], /^'request\.path' must not hold a query/);
    match(problems["no method"], /^'request\.method' \(an HTTP method such as GET\) is required$/);
    match(problems["scalar body"], /^'request\.body' must be a mapping or a list/);
    match(problems["not a mapping"], /^'request' must be a mapping/);
    match(
      problems["request on postgres"],
      /^'request' needs an endpoint with http facts: 'db' is postgres$/,
    );
    match(r.stdout, /^0 passed, 7 failed$/m);
  });
});

Deno.test("a missing fixture file exits 2 naming the file", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "nope.yaml");
    const r = await cli(["-c", RULES, "test", join(FIXTURES, "llm_apis.yaml"), missing]);
    equal(r.code, 2, r.stdout + r.stderr);
    match(
      r.stderr,
      new RegExp(`${missing.replaceAll(".", "\\.")}: cannot read fixtures: no such file`),
    );
    equal(r.stderr.includes("    at "), false, "no stack trace");
  });
});

Deno.test("a fixture file that is not a list of cases exits 2", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "scalar.yaml");
    await Deno.writeTextFile(file, "just a string\n");
    const r = await cli(["-c", RULES, "test", file]);
    equal(r.code, 2, r.stdout + r.stderr);
    match(r.stderr, /scalar\.yaml: cannot read fixtures: expected a list of cases/);
  });
});

Deno.test("--require-coverage with an incomplete fixture set exits 1 listing unexercised rules", async () => {
  const only = join(FIXTURES, "llm_apis.yaml");
  const plain = await cli(["-c", RULES, "test", only]);
  equal(plain.code, 0, "passing fixtures without --require-coverage still exit 0");
  const r = await cli(["-c", RULES, "test", only, "--require-coverage"]);
  equal(r.code, 1, r.stdout + r.stderr);
  match(r.stdout, /^\d+ passed, 0 failed$/m);
  const line = r.stdout.split("\n").find((l) => l.startsWith("coverage:"));
  ok(line, r.stdout);
  const total = (await packRuleNames()).length;
  match(line, new RegExp(`^coverage: \\d+/${total} rules exercised; never decided by a fixture: `));
  // Rules from the other packs are listed; the LLM pack's own rules are not.
  for (const name of ["github-reads", "github-destructive", "pg-no-ddl", "k8s-no-secrets"]) {
    ok(line.includes(name), `${name} missing from: ${line}`);
  }
  for (const name of ["llm-inference", "llm-admin"]) {
    equal(line.includes(name), false, `${name} was exercised: ${line}`);
  }
});

Deno.test("test without fixture files is a usage error", async () => {
  const r = await cli(["-c", RULES, "test"]);
  equal(r.code, 2);
  match(r.stderr, /^Usage error: test needs at least one fixture file$/m);
});
