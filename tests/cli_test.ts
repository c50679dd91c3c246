// The CLI end to end, as a real subprocess: init, check, usage errors, version, config lookup,
// and `log` / `log verify` over receipts written by an in-process gateway.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { completeFacts } from "../src/policy/mod.ts";
import type { Action } from "../src/core/mod.ts";
import { cli, initDir, Running, withTempDir } from "./_helpers.ts";
import { protocolOf } from "../src/protocols/registry.ts";

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
    match(r.stdout, /^\.\/gateway\.hcl: ok: 3 endpoints \(3 https\), \d+ rules, .*mode enforce$/m);
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

// ---- usage, errors, version ----

Deno.test("an unknown command exits 2 with one line and no stack trace", async () => {
  const r = await cli(["frobnicate"]);
  equal(r.code, 2);
  deepEqual(lines(r.stderr), ["Unknown command 'frobnicate': run 'clawpatrol help'"]);
  equal(r.stdout, "");
});

Deno.test("an unknown option exits 2 with one line and no stack trace", async () => {
  const r = await cli(["check", "--frobnicate"]);
  equal(r.code, 2);
  deepEqual(lines(r.stderr), ["Usage error: Unknown option '--frobnicate'"]);
});

Deno.test("-c without a value is a usage error naming the option", async () => {
  const r = await cli(["check", "-c"]);
  equal(r.code, 2);
  equal(lines(r.stderr).length, 1, r.stderr);
  match(r.stderr, /^Usage error: .*-c/);
});

Deno.test("--debug adds a stack trace to a runtime error; without it the error is one line", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    await Deno.chmod(join(dir, "state"), 0o755);
    const plain = await cli(["serve", "-c", config]);
    equal(plain.code, 1);
    deepEqual(lines(plain.stderr).length, 1, plain.stderr);
    match(plain.stderr, /^Error: State directory .* run 'chmod 700 /);
    const debug = await cli(["serve", "-c", config, "--debug"]);
    equal(debug.code, 1);
    match(debug.stderr, /^Error: State directory /);
    match(debug.stderr, /^\s+at .*\.ts:\d+:\d+/m);
  });
});

Deno.test("version prints clawpatrol X.Y.Z", async () => {
  const [a, b] = await Promise.all([cli(["version"]), cli(["--version"])]);
  equal(a.code, 0);
  match(a.stdout, /^clawpatrol \d+\.\d+\.\d+\b/);
  equal(b.stdout, a.stdout);
});

Deno.test("help exits 0 listing the commands; no arguments prints help and exits 2", async () => {
  const [help, none] = await Promise.all([cli(["help"]), cli([])]);
  equal(help.code, 0);
  for (const c of ["init", "serve", "start", "check", "test", "log", "version"]) {
    match(help.stdout, new RegExp(`^  ${c}\\b`, "m"));
  }
  equal(none.code, 2);
  match(none.stdout + none.stderr, /Usage: clawpatrol COMMAND/);
});

// ---- finding the config ----

Deno.test("-c works before and after the command, and overrides CLAWPATROL_CONFIG", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    const [before, after, long, overrides] = await Promise.all([
      cli(["-c", config, "check"], { cwd: elsewhere }),
      cli(["check", "-c", config], { cwd: elsewhere }),
      cli(["check", `--config=${config}`], { cwd: elsewhere }),
      cli(["check", "-c", config], { cwd: elsewhere, env: { CLAWPATROL_CONFIG: "/nonexistent" } }),
    ]);
    for (const r of [before, after, long, overrides]) {
      equal(r.code, 0, r.stderr);
      ok(r.stdout.startsWith(`${config}: ok: `), r.stdout);
    }
  });
});

Deno.test("CLAWPATROL_CONFIG is used when -c is not given; an empty one means unset", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    const fromEnv = await cli(["check"], { cwd: elsewhere, env: { CLAWPATROL_CONFIG: config } });
    equal(fromEnv.code, 0, fromEnv.stderr);
    ok(fromEnv.stdout.startsWith(`${config}: ok: `), fromEnv.stdout);
    const empty = await cli(["check"], { cwd: join(dir, "gw"), env: { CLAWPATROL_CONFIG: "" } });
    equal(empty.code, 0, empty.stderr);
    ok(empty.stdout.startsWith("./gateway.hcl: ok: "), empty.stdout);
  });
});

// ---- log and log verify ----

function githubAction(agent: string, method: string, path: string): Action {
  return {
    protocol: "https",
    endpoint: "github",
    agent: { name: agent, profile: "default" },
    facts: completeFacts(protocolOf("https")!, {
      http: {
        method,
        host: "api.github.com",
        path,
        headers: { authorization: "Bearer ghp_cli_test_secret" },
      },
    }),
    summary: `${method} ${path}`,
  };
}

/** Init's a gateway dir and decides a few actions through an in-process gateway. */
async function withReceipts(
  fn: (config: string, ids: { id: string; decision: string }[]) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    const log = new MemoryLogger();
    const gateway = await Gateway.start(config, { log, version: "test", watch: false });
    const ids: { id: string; decision: string }[] = [];
    try {
      for (
        const [agent, method, path] of [
          ["bot-a", "GET", "/repos/acme/api/pulls"],
          ["bot-b", "DELETE", "/repos/acme/api"],
          ["bot-a", "HEAD", "/repos/acme/api"],
          ["bot-b", "PUT", "/repos/acme/api/branches/main/protection"],
        ]
      ) {
        const { verdict, receipt, finish } = gateway.guard.decide(
          githubAction(agent, method, path),
        );
        ok(receipt, `no receipt for ${method} ${path}`);
        finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
        ids.push({ id: receipt, decision: verdict.decision });
      }
    } finally {
      await gateway.stop();
    }
    deepEqual(ids.map((i) => i.decision), ["allow", "deny", "allow", "deny"]);
    await fn(config, ids);
  });
}

Deno.test("log verify passes an intact chain and names the seq of an edited receipt", async () => {
  await withReceipts(async (config, ids) => {
    const good = await cli(["log", "verify", "-c", config]);
    equal(good.code, 0, good.stdout + good.stderr);
    match(good.stdout, new RegExp(`: ok: ${ids.length} receipts, hash chain intact`));

    const db = new DatabaseSync(join(config, "..", "state", "receipts.db"));
    try {
      const changed = db.prepare("UPDATE receipts SET reason = ? WHERE seq = 2").run("fine");
      equal(changed.changes, 1);
    } finally {
      db.close();
    }
    const bad = await cli(["log", "verify", "-c", config]);
    equal(bad.code, 1, bad.stdout + bad.stderr);
    match(bad.stdout, /BROKEN at receipt seq 2: .*\(1 receipts verified before it\)/);
  });
});

Deno.test("log verify notices a deleted receipt", async () => {
  await withReceipts(async (config) => {
    const db = new DatabaseSync(join(config, "..", "state", "receipts.db"));
    try {
      db.exec("DELETE FROM receipts WHERE seq = 3");
    } finally {
      db.close();
    }
    const r = await cli(["log", "verify", "-c", config]);
    equal(r.code, 1);
    match(r.stdout, /BROKEN at receipt seq 4/);
  });
});

Deno.test("log prints receipts as text and JSON, filtered by verdict, agent, limit and since", async () => {
  await withReceipts(async (config, ids) => {
    const [text, json, deny, agent, limit, since, future, bad, badVerdict] = await Promise.all([
      cli(["log", "-c", config]),
      cli(["log", "--json", "-c", config]),
      cli(["log", "--json", "--verdict", "deny", "-c", config]),
      cli(["log", "--json", "--agent", "bot-a", "-c", config]),
      cli(["log", "--json", "--limit", "1", "-c", config]),
      cli(["log", "--json", "--since", "1h", "-c", config]),
      cli(["log", "--json", "--since", "2999-01-01T00:00:00Z", "-c", config]),
      cli(["log", "--since", "nonsense", "-c", config]),
      cli(["log", "--verdict", "maybe", "-c", config]),
    ]);
    equal(text.code, 0, text.stderr);
    const textLines = lines(text.stdout);
    equal(textLines.length, ids.length);
    ids.forEach(({ id }, i) => ok(textLines[i].endsWith(id), textLines[i]));
    match(textLines[1], /deny .*bot-b github github-destructive "DELETE \/repos\/acme\/api"/);
    equal(text.stdout.includes("ghp_cli_test_secret"), false, "token leaked into log output");

    const parse = (s: string) => lines(s).map((l) => JSON.parse(l));
    const all = parse(json.stdout);
    deepEqual(all.map((r) => r.id), ids.map((i) => i.id));
    deepEqual(all.map((r) => r.verdict), ["allow", "deny", "allow", "deny"]);
    equal(all[0].rule, "github-reads");
    equal(all[0].agent, "bot-a");
    deepEqual(all[0].facts.http.headers.authorization, ["Bearer [redacted]"]);
    equal(json.stdout.includes("ghp_cli_test_secret"), false, "token leaked into JSON");

    deepEqual(parse(deny.stdout).map((r) => r.id), [ids[1].id, ids[3].id]);
    deepEqual(parse(agent.stdout).map((r) => r.id), [ids[0].id, ids[2].id]);
    deepEqual(parse(limit.stdout).map((r) => r.id), [ids[3].id], "--limit keeps the newest");
    equal(parse(since.stdout).length, ids.length);
    equal(future.code, 0);
    equal(future.stdout, "");

    equal(bad.code, 2);
    deepEqual(lines(bad.stderr).length, 1, bad.stderr);
    match(bad.stderr, /^Usage error: --since must be .*'nonsense'/);
    equal(badVerdict.code, 2);
    match(badVerdict.stderr, /^Usage error: --verdict must be allow or deny/);
  });
});

Deno.test("log --follow prints receipts as they are committed and exits 0 on SIGTERM", async () => {
  await withReceipts(async (config, ids) => {
    const follow = Running.spawn(["log", "--follow", "-c", config]);
    try {
      await follow.waitFor(new RegExp(`${ids.at(-1)!.id}$`), 15_000, 0, "stdout");
      equal(follow.out.filter((l) => l.trim()).length, ids.length);
      const gateway = await Gateway.start(config, {
        log: new MemoryLogger(),
        version: "test",
        watch: false,
      });
      let id: string | null;
      try {
        id = gateway.guard.decide(githubAction("bot-c", "GET", "/rate_limit")).receipt;
      } finally {
        await gateway.stop();
      }
      ok(id);
      const hit = await follow.waitFor(new RegExp(`bot-c .*${id}$`), 5_000, 0, "stdout");
      match(hit.input!, /^\S+ allow +bot-c github github-reads "GET \/rate_limit"/);
      equal((await follow.stop("SIGTERM", 5_000)).code, 0);
    } finally {
      await follow.dispose();
    }
  });
});

Deno.test("log and log verify before any receipt exists exit 1 saying so", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    for (const args of [["log"], ["log", "verify"]]) {
      const r = await cli([...args, "-c", config]);
      equal(r.code, 1, args.join(" "));
      deepEqual(lines(r.stderr).length, 1, r.stderr);
      match(r.stderr, /^Error: No receipts yet: '.*receipts\.db' does not exist/);
    }
  });
});
