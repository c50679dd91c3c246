// The CLI end to end, as a real subprocess: init and check. Usage, version and config lookup are
// in cli_usage_test.ts, `log` and `log verify` in log_cli_test.ts.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, withTempDir } from "./_helpers.ts";

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

// ---- init ----

Deno.test("init in an empty directory writes the config, rule packs and a private state dir", async () => {
  await withTempDir(async (dir) => {
    const r = await cli(["init"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    match(r.stdout, /^Created .*gateway\.hcl/);
    ok((await Deno.stat(join(dir, "gateway.hcl"))).isFile);
    const packs = [...Deno.readDirSync(join(dir, "rules"))].map((e) => e.name);
    ok(packs.includes("github_writes.hcl") && packs.includes("llm_apis.hcl"), String(packs));
    const state = join(dir, "state");
    equal(await mode(state), 0o700);
    ok((await Deno.readTextFile(join(state, "ca.pem"))).includes("BEGIN CERTIFICATE"));
    // The CA key lives sealed in the vault, never as a file.
    equal(await Deno.stat(join(state, "ca.key")).then(() => true, () => false), false);
    equal(await mode(join(state, "vault.db")), 0o600);
    equal(await mode(join(state, "master.key")), 0o600);
    // 32 random bytes, base64.
    equal(atob((await Deno.readTextFile(join(state, "master.key"))).trim()).length, 32);
  });
});

Deno.test("the config init writes passes check with a one-line summary", async () => {
  await withTempDir(async (dir) => {
    equal((await cli(["init", dir])).code, 0);
    const r = await cli(["check"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    equal(lines(r.stdout).length, 1, r.stdout);
    match(
      r.stdout,
      /^\.\/gateway\.hcl: ok: 3 endpoints \(3 https\), \d+ rules, .*mode enforce; policy [0-9a-f]{16}$/m,
    );
    equal(r.stderr, "");
  });
});

Deno.test("init refuses to overwrite an existing config without --force", async () => {
  await withTempDir(async (dir) => {
    equal((await cli(["init", dir])).code, 0);
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(config, "# my edits\n", { append: true });
    const before = await Deno.readTextFile(config);
    const r = await cli(["init", dir]);
    equal(r.code, 2);
    equal(lines(r.stderr).length, 1, r.stderr);
    match(r.stderr, /already exists: pass --force/);
    equal(await Deno.readTextFile(config), before);
  });
});

Deno.test("init --force rewrites the config but keeps the gateway CA and vault key", async () => {
  await withTempDir(async (dir) => {
    equal((await cli(["init", dir])).code, 0);
    const config = join(dir, "gateway.hcl");
    const state = join(dir, "state");
    const keep = async () => ({
      ca: await Deno.readTextFile(join(state, "ca.pem")),
      vault: await Deno.readFile(join(state, "vault.db")),
      master: await Deno.readTextFile(join(state, "master.key")),
    });
    const before = await keep();
    await Deno.writeTextFile(config, "# my edits\n", { append: true });
    const r = await cli(["init", dir, "--force"]);
    equal(r.code, 0, r.stderr);
    equal((await Deno.readTextFile(config)).includes("# my edits"), false);
    // Regenerating these would silently break every agent's trust in the CA and make the vault's
    // stored credentials undecryptable.
    deepEqual(await keep(), before);
  });
});

Deno.test("init --force points at starter packs an earlier release left behind, keeping them", async () => {
  await withTempDir(async (dir) => {
    equal((await cli(["init", dir])).code, 0);
    const retired = join(dir, "rules", "k8s_secrets.hcl");
    await Deno.writeTextFile(retired, "# an older pack, perhaps edited\n");
    const r = await cli(["init", dir, "--force"]);
    equal(r.code, 0, r.stderr);
    match(
      r.stderr,
      /Warning: .*k8s_secrets\.hcl is a starter pack from an earlier release; its rules now live in kubernetes\.hcl/,
    );
    equal(await Deno.readTextFile(retired), "# an older pack, perhaps edited\n");
    const fresh = await cli(["init", join(dir, "other")]);
    equal(fresh.stderr.includes("Warning"), false, fresh.stderr);
  });
});

Deno.test("start with a config not named gateway.hcl refuses before writing anything", async () => {
  await withTempDir(async (dir) => {
    const r = await cli(["start", "-c", join(dir, "other.hcl")]);
    equal(r.code, 2);
    equal(lines(r.stderr).length, 1, r.stderr);
    match(r.stderr, /^Usage error: No config at .*other\.hcl.* start with -c .*gateway\.hcl$/m);
    deepEqual([...Deno.readDirSync(dir)], [], "start wrote files before refusing");
  });
});

// ---- check ----

const BROKEN = `schema_version = 1
gateway {
  state_dir = "./state"
  mode      = "enforse"
  colour    = "blue"
}
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
rule "reads" {
  endpoint  = https.github
  condition = "http.methd == 'get'"
  verdict   = "allow"
}
rule "gitlab" {
  endpoint  = https.gitlab
  condition = "true"
  verdict   = "deny"
}
rule "reads" {
  endpoint  = https.github
  condition = "true"
  verdict   = "deny"
}
rule "priority" {
  endpoint  = https.github
  priority  = "high"
  condition = "true"
  verdict   = "deny"
}
`;

Deno.test("check on a broken config exits 2 and prints every problem with file:line", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "gateway.hcl"), BROKEN);
    const r = await cli(["check", "-c", "gateway.hcl"], { cwd: dir });
    equal(r.code, 2, r.stdout + r.stderr);
    const expected: [number, RegExp][] = [
      [4, /'mode' must be one of "enforce", "observe", got "enforse"/],
      [5, /unknown attribute or block 'colour'/],
      [12, /rule "reads": condition: .*methd/],
      [16, /rule "gitlab": 'endpoint' refers to undefined endpoint 'https\.gitlab'/],
      [20, /duplicate rule name 'reads' \(first defined at gateway\.hcl:10\)/],
      [27, /rule "priority": .*priority/],
    ];
    const problems = lines(r.stderr).filter((l) => /^gateway\.hcl:\d+: /.test(l));
    for (const [line, message] of expected) {
      ok(
        problems.some((p) => p.startsWith(`gateway.hcl:${line}: `) && message.test(p)),
        `no problem at line ${line} matching ${message} in:\n${r.stderr}`,
      );
    }
    equal(problems.length, expected.length, r.stderr);
    match(r.stderr, new RegExp(`^${expected.length} problems found$`, "m"));
    equal(r.stdout, "");
    equal(r.stderr.includes("    at "), false, "no stack trace");
  });
});

Deno.test("check reports a condition reading an unknown fact with its rule, file and line", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, "gateway.hcl"),
      `schema_version = 1
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
rule "reads" {
  endpoint  = https.github
  condition = "http.methd == 'get'"
  verdict   = "allow"
}
`,
    );
    const r = await cli(["check"], { cwd: dir });
    equal(r.code, 2);
    match(r.stderr, /^\.\/gateway\.hcl:7: rule "reads": condition: .*methd/m);
  });
});

Deno.test("check without a config exits 2 suggesting clawpatrol init", async () => {
  await withTempDir(async (dir) => {
    const r = await cli(["check"], { cwd: dir });
    equal(r.code, 2);
    match(r.stderr, /gateway\.hcl: Cannot read config: .*run 'clawpatrol init'/);
    equal(r.stderr.includes("    at "), false);
  });
});
