// `clawpatrol agent`, `env` and `run` end to end, as real subprocesses against an init'ed
// directory: enrolment and tokens, the environment an agent gets, and running a command in it.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { proxyAddress, shellQuote } from "../src/cli/_agent_env.ts";
import { SYSTEM_ROOTS } from "../src/cli/_ca_bundle.ts";
import { cli, initDir, withTempDir } from "./_helpers.ts";

const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");
const TOKEN = /^cpat_[A-Za-z0-9_-]{43}$/;

/** `agent add NAME --profile P` in `dir`; returns the token (the last line of stdout). */
async function addAgent(dir: string, name: string, profile = "default"): Promise<string> {
  const r = await cli(["agent", "add", name, "--profile", profile], { cwd: dir });
  equal(r.code, 0, r.stderr);
  const token = lines(r.stdout).at(-1)!;
  match(token, TOKEN);
  return token;
}

/** Sources `exports` in a real `sh` and returns the values of `names`, one per line. */
async function sourced(exports: string, names: string[]): Promise<Record<string, string>> {
  const script = `${exports}\nfor v in ${
    names.join(" ")
  }; do eval "printf '%s\\0' \\"\\$$v\\""; done`;
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  equal(out.code, 0);
  const values = new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

// github_pat (env GITHUB_TOKEN) comes with the starter config.
const CREDENTIALS = `
credential "header_token" "openai_key" {
  endpoint    = https.openai
  header      = "authorization"
  env         = "OPENAI_API_KEY"
  placeholder = "it's'$(id>pwned)'\`id\`{{openai_key}}"
}
credential "bearer_token" "no_env" {
  endpoint = https.anthropic
}
profile "with-creds" {
  credentials = [bearer_token.github_pat, header_token.openai_key, bearer_token.no_env]
}
`;

// ---- agent ----

Deno.test("agent add prints a cpat_ token once, as the last line, that authenticates the agent", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const r = await cli(["agent", "add", "oncall-bot", "--profile", "default"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    equal(out.length, 2, r.stdout);
    match(out[0], /^Added agent 'oncall-bot' with profile 'default'\. .*shown only this once/);
    match(out[1], TOKEN);
    equal(r.stderr, "");
    const registry = AgentRegistry.open(join(dir, "state"));
    deepEqual(registry.authenticate("oncall-bot", out[1]), {
      name: "oncall-bot",
      profile: "default",
    });
    equal(
      (await Deno.readTextFile(join(dir, "state", "agents.json"))).includes(out[1]),
      false,
      "token stored",
    );
  });
});

Deno.test("agent add with an unknown profile exits 2 listing the config's profiles", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const r = await cli(["agent", "add", "bot", "--profile", "nope"], { cwd: dir });
    equal(r.code, 2);
    deepEqual(lines(r.stderr), [
      "Usage error: unknown profile 'nope': the config defines 'default'",
    ]);
    equal(r.stdout, "");
    deepEqual(AgentRegistry.open(join(dir, "state")).list(), []);
  });
});

Deno.test("agent add refuses bad names (2), missing --profile (2) and a reused name (1)", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const bad = await cli(["agent", "add", "Bot:1", "--profile", "default"], { cwd: dir });
    equal(bad.code, 2);
    match(bad.stderr, /^Usage error: invalid agent name 'Bot:1'/);
    const noProfile = await cli(["agent", "add", "bot"], { cwd: dir });
    equal(noProfile.code, 2);
    match(noProfile.stderr, /agent add needs --profile PROFILE/);
    await addAgent(dir, "bot");
    const again = await cli(["agent", "add", "bot", "--profile", "default"], { cwd: dir });
    equal(again.code, 1);
    deepEqual(lines(again.stderr), ["Error: Agent 'bot' already exists"]);
    equal((await cli(["agent", "revoke", "bot"], { cwd: dir })).code, 0);
    const reused = await cli(["agent", "add", "bot", "--profile", "default"], { cwd: dir });
    equal(reused.code, 1);
    match(reused.stderr, /names are never reused/);
  });
});

Deno.test("agent add without a state dir exits 1 saying to run init", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    await Deno.remove(join(dir, "state"), { recursive: true });
    const r = await cli(["agent", "add", "bot", "--profile", "default"], { cwd: dir });
    equal(r.code, 1);
    match(r.stderr, /State directory '.*state' does not exist: run 'clawpatrol init'/);
  });
});

Deno.test("agent list shows name, profile, times and status, never a token or its hash", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const empty = await cli(["agent", "list"], { cwd: dir });
    equal(empty.code, 0);
    match(empty.stdout, /^No agents yet/);
    const a = await addAgent(dir, "alpha");
    const b = await addAgent(dir, "beta");
    equal((await cli(["agent", "revoke", "beta"], { cwd: dir })).code, 0);
    const hashes = AgentRegistry.open(join(dir, "state")).list().map((r) => r.tokenSha256);

    const r = await cli(["agent", "list"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    const table = lines(r.stdout);
    match(table[0], /^NAME\s+PROFILE\s+CREATED\s+ROTATED\s+STATUS$/);
    match(table[1], /^alpha\s+default\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+-\s+active$/);
    match(table[2], /^beta\s+default\s+\S+Z\s+-\s+revoked \S+Z$/);
    equal(table.length, 3);

    const json = await cli(["agent", "list", "--json"], { cwd: dir });
    equal(json.code, 0, json.stderr);
    const records = JSON.parse(json.stdout);
    deepEqual(records.map((x: { name: string; status: string }) => [x.name, x.status]), [
      ["alpha", "active"],
      ["beta", "revoked"],
    ]);
    for (const secret of [a, b, a.slice(5), b.slice(5), ...hashes]) {
      equal(r.stdout.includes(secret), false, "secret in the table");
      equal(json.stdout.includes(secret), false, "secret in the JSON");
    }
  });
});

Deno.test("agent revoke stops the token from authenticating; unknown agents exit 1", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "bot");
    const registry = AgentRegistry.open(join(dir, "state"));
    ok(registry.authenticate("bot", token));
    const r = await cli(["agent", "revoke", "bot"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    match(r.stdout, /^Revoked agent 'bot'/);
    registry.refresh();
    equal(registry.authenticate("bot", token), null);
    const twice = await cli(["agent", "revoke", "bot"], { cwd: dir });
    equal(twice.code, 1);
    match(twice.stderr, /^Error: Agent 'bot' is revoked/);
    const unknown = await cli(["agent", "revoke", "nobody"], { cwd: dir });
    equal(unknown.code, 1);
    deepEqual(lines(unknown.stderr), ["Error: Unknown agent 'nobody'"]);
  });
});

Deno.test("agent rotate prints a new token once and the old one stops working", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const old = await addAgent(dir, "bot");
    const r = await cli(["agent", "rotate", "bot"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    const fresh = lines(r.stdout).at(-1)!;
    match(fresh, TOKEN);
    ok(fresh !== old);
    const registry = AgentRegistry.open(join(dir, "state"));
    equal(registry.authenticate("bot", old), null);
    ok(registry.authenticate("bot", fresh));
    const listed = await cli(["agent", "list"], { cwd: dir });
    match(lines(listed.stdout)[1], /^bot\s+default\s+\S+Z\s+\S+Z\s+active$/, "rotated time shown");
  });
});

Deno.test("agent without a subcommand, or with an unknown one, is a usage error", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const none = await cli(["agent"], { cwd: dir });
    equal(none.code, 2);
    match(none.stderr, /agent needs a subcommand: add, list, revoke or rotate/);
    const unknown = await cli(["agent", "delete", "bot"], { cwd: dir });
    equal(unknown.code, 2);
    match(unknown.stderr, /unknown agent subcommand 'delete'/);
  });
});

// ---- env ----

const EXPECTED = [
  "CLAWPATROL_AGENT",
  "HTTPS_PROXY",
  "HTTP_PROXY",
  "https_proxy",
  "http_proxy",
  "NO_PROXY",
  "no_proxy",
  "SSL_CERT_FILE",
  "REQUESTS_CA_BUNDLE",
  "CURL_CA_BUNDLE",
  "GIT_SSL_CAINFO",
  "DENO_CERT",
  "AWS_CA_BUNDLE",
  "NODE_EXTRA_CA_CERTS",
];

Deno.test("env prints export lines for the proxy, CA bundle and credential placeholders", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(
      config,
      text.replace(/proxy_listen\s*=\s*"[^"]*"/, 'proxy_listen = "0.0.0.0:18080"') + CREDENTIALS,
    );
    const token = await addAgent(dir, "bot", "with-creds");
    const r = await cli(["env", "--agent", "bot", "--token", token], { cwd: dir });
    equal(r.code, 0, r.stderr);
    equal(r.stderr, "");
    for (const line of lines(r.stdout)) match(line, /^export [A-Za-z_][A-Za-z0-9_]*='.*'$/);
    const names = lines(r.stdout).map((l) => l.slice("export ".length, l.indexOf("=")));
    deepEqual(names, [...EXPECTED, "GITHUB_TOKEN", "OPENAI_API_KEY"]);

    const state = join(await Deno.realPath(dir), "state");
    const v = await sourced(r.stdout, names);
    const proxy = `http://bot:${token}@127.0.0.1:18080`;
    for (const n of ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]) equal(v[n], proxy);
    equal(v.NO_PROXY, "localhost,127.0.0.1,::1");
    equal(v.no_proxy, v.NO_PROXY);
    equal(v.CLAWPATROL_AGENT, "bot");
    for (const n of EXPECTED.slice(7, 13)) equal(v[n], join(state, "ca-bundle.pem"), n);
    equal(v.NODE_EXTRA_CA_CERTS, join(state, "ca.pem"));
    equal(v.GITHUB_TOKEN, "{{github_pat}}", "default placeholder: the credential's name");
    // Quotes, $(…) and backticks reach the variable literally, and nothing was executed.
    equal(v.OPENAI_API_KEY, "it's'$(id>pwned)'`id`{{openai_key}}");
    equal(await Deno.stat(join(dir, "pwned")).then(() => true, () => false), false);

    const bundle = await Deno.readTextFile(join(state, "ca-bundle.pem"));
    const gatewayCa = await Deno.readTextFile(join(state, "ca.pem"));
    ok(bundle.includes(gatewayCa.trim()), "gateway CA in the bundle");
    const roots = SYSTEM_ROOTS.map((p) => {
      try {
        return Deno.readTextFileSync(p);
      } catch {
        return "";
      }
    }).find((t) => t.includes("BEGIN CERTIFICATE"));
    ok(roots, "this machine has a system CA bundle");
    const firstRoot = roots.slice(
      roots.indexOf("-----BEGIN CERTIFICATE-----"),
      roots.indexOf("-----END CERTIFICATE-----") + 25,
    );
    ok(bundle.includes(firstRoot), "a system root in the bundle");
    ok(bundle.split("BEGIN CERTIFICATE").length > 3, "more than the gateway CA");
    equal((await Deno.stat(join(state, "ca-bundle.pem"))).mode! & 0o777, 0o644);
  });
});

Deno.test("shellQuote() survives a real sh for token-like and hostile values", async () => {
  const values = [
    "cpat_AbC-_x",
    "cpat_'x'",
    "'",
    "''",
    "a'b'c",
    '$HOME `id` $(id) \\ " ! * ?',
    "line\nbreak",
    "",
  ];
  const exports = values.map((v, i) => `export V${i}=${shellQuote(v)}`).join("\n");
  const got = await sourced(exports, values.map((_, i) => `V${i}`));
  deepEqual(Object.values(got), values);
});

Deno.test("proxyAddress() maps wildcard binds to loopback and keeps IPv6 brackets", () => {
  equal(proxyAddress("127.0.0.1:8080"), "127.0.0.1:8080");
  equal(proxyAddress("0.0.0.0:8080"), "127.0.0.1:8080");
  equal(proxyAddress("[::]:8080"), "127.0.0.1:8080");
  equal(proxyAddress(":8080"), "127.0.0.1:8080");
  equal(proxyAddress("[::1]:8080"), "[::1]:8080");
  equal(proxyAddress("gw.internal:3128"), "gw.internal:3128");
});

Deno.test("env with a wrong token exits 1 without printing anything or echoing the token", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "bot");
    const wrong = "cpat_" + "W".repeat(43);
    const r = await cli(["env", "--agent", "bot", "--token", wrong], { cwd: dir });
    equal(r.code, 1);
    deepEqual(lines(r.stderr), ["Error: Token does not match agent 'bot'"]);
    equal(r.stderr.includes(wrong), false);
    equal(r.stdout, "");
    const viaEnv = await cli(["env", "--agent", "bot"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: token.slice(0, -2) },
    });
    equal(viaEnv.code, 1);
    equal(viaEnv.stderr.includes(token.slice(0, -2)), false);
    const unknown = await cli(["env", "--agent", "ghost", "--token", token], { cwd: dir });
    equal(unknown.code, 1);
    match(unknown.stderr, /Unknown agent 'ghost'/);
    equal((await cli(["agent", "revoke", "bot"], { cwd: dir })).code, 0);
    const revoked = await cli(["env", "--agent", "bot", "--token", token], { cwd: dir });
    equal(revoked.code, 1);
    match(revoked.stderr, /Agent 'bot' is revoked/);
    equal(revoked.stdout, "");
  });
});

Deno.test("env reads the token from $CLAWPATROL_AGENT_TOKEN, else one line of stdin; none is exit 2", async () => {
  await withTempDir(async (dir) => {
    await proxyOn8080(await initDir(dir));
    const token = await addAgent(dir, "bot");
    const fromEnv = await cli(["env", "--agent", "bot"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: token },
    });
    equal(fromEnv.code, 0, fromEnv.stderr);
    ok(fromEnv.stdout.includes(`'http://bot:${token}@127.0.0.1:8080'`));
    const fromStdin = await cli(["env", "--agent", "bot"], {
      cwd: dir,
      input: `${token}\nignored\n`,
    });
    equal(fromStdin.code, 0, fromStdin.stderr);
    deepEqual(fromStdin.stdout, fromEnv.stdout);
    const none = await cli(["env", "--agent", "bot"], { cwd: dir }); // stdin: /dev/null
    equal(none.code, 2);
    deepEqual(lines(none.stderr), ["Usage error: empty token for agent 'bot'"]);
    const noAgent = await cli(["env", "--token", token], { cwd: dir });
    equal(noAgent.code, 2);
    match(noAgent.stderr, /env needs --agent NAME/);
  });
});

// ---- run ----

Deno.test("run passes the child's exit code through, and 128+N for a signal", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "a");
    const env = { CLAWPATROL_AGENT_TOKEN: token };
    const seven = await cli(["run", "--agent", "a", "--", "sh", "-c", "exit 7"], { cwd: dir, env });
    equal(seven.code, 7, seven.stderr);
    const zero = await cli(["run", "--agent", "a", "--", "true"], { cwd: dir, env });
    equal(zero.code, 0, zero.stderr);
    const killed = await cli(["run", "--agent", "a", "--", "sh", "-c", "kill -TERM $$"], {
      cwd: dir,
      env,
    });
    equal(killed.code, 128 + 15);
  });
});

Deno.test("run gives the child the agent's environment but not CLAWPATROL_AGENT_TOKEN", async () => {
  await withTempDir(async (dir) => {
    await proxyOn8080(await initDir(dir));
    const token = await addAgent(dir, "a");
    const script = 'printf "%s|%s|%s|%s\\n" "$HTTPS_PROXY" "${CLAWPATROL_AGENT_TOKEN-unset}" ' +
      '"$CLAWPATROL_AGENT" "$KEEP_ME"';
    const r = await cli(["run", "--agent", "a", "--", "sh", "-c", script], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: token, KEEP_ME: "inherited" },
    });
    equal(r.code, 0, r.stderr);
    equal(r.stdout, `http://a:${token}@127.0.0.1:8080|unset|a|inherited\n`);
    const viaFlag = await cli(
      ["run", "--agent", "a", "--token", token, "--", "sh", "-c", 'echo "$SSL_CERT_FILE"'],
      { cwd: dir },
    );
    equal(viaFlag.code, 0, viaFlag.stderr);
    match(viaFlag.stdout, /\/state\/ca-bundle\.pem\n$/);
  });
});

Deno.test("run hands everything after -- to the child untouched, --help and -c included", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "a");
    const r = await cli(
      [
        "run",
        "--agent",
        "a",
        "--",
        "sh",
        "-c",
        'printf "[%s]" "$@"',
        "sh",
        "--help",
        "-c",
        "x",
        "--",
      ],
      { cwd: dir, env: { CLAWPATROL_AGENT_TOKEN: token } },
    );
    equal(r.code, 0, r.stderr);
    equal(r.stdout, "[--help][-c][x][--]");
  });
});

Deno.test("run exits 127 for a command that does not exist, 2 without a command or token", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "a");
    const env = { CLAWPATROL_AGENT_TOKEN: token };
    const missing = await cli(["run", "--agent", "a", "--", "no-such-command-xyz", "--help"], {
      cwd: dir,
      env,
    });
    equal(missing.code, 127);
    deepEqual(lines(missing.stderr), ["Error: Command not found: 'no-such-command-xyz'"]);
    const noCommand = await cli(["run", "--agent", "a", "--"], { cwd: dir, env });
    equal(noCommand.code, 2);
    match(noCommand.stderr, /run needs the command after '--'/);
    const noSeparator = await cli(["run", "--agent", "a", "true"], { cwd: dir, env });
    equal(noSeparator.code, 2);
    // stdin is not a terminal and belongs to the child: never read as the token.
    const noToken = await cli(["run", "--agent", "a", "--", "true"], { cwd: dir });
    equal(noToken.code, 2);
    match(noToken.stderr, /no token for agent 'a': pass --token or set CLAWPATROL_AGENT_TOKEN/);
    const wrong = await cli(["run", "--agent", "a", "--token", "cpat_nope", "--", "true"], {
      cwd: dir,
    });
    equal(wrong.code, 1);
    deepEqual(lines(wrong.stderr), ["Error: Token does not match agent 'a'"]);
  });
});

Deno.test("--help before -- still prints the usage, which lists agent, env and run", async () => {
  const r = await cli(["run", "--help"]);
  equal(r.code, 0);
  match(r.stdout, /agent add NAME --profile PROFILE/);
  match(r.stdout, /env --agent NAME/);
  match(r.stdout, /run --agent NAME \[--token T\] -- COMMAND/);
});

/** initDir() picks a random proxy port; `env` tests want the starter's fixed one. */
async function proxyOn8080(config: string): Promise<void> {
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    text.replace(/proxy_listen\s*=\s*"[^"]*"/, 'proxy_listen = "127.0.0.1:8080"'),
  );
}
