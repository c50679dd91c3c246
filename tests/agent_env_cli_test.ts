// `clawpatrol env` end to end, as real subprocesses against an init'ed directory: the
// environment an agent gets, and how the agent's token is given.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { proxyAddress, shellQuote } from "../src/cli/_agent_env.ts";
import { SYSTEM_ROOTS } from "../src/cli/_ca_bundle.ts";
import { cli, initDir, withTempDir } from "./_helpers.ts";
import { addAgent, lines, proxyOn8080, sourced } from "./_agent_cli_fixture.ts";

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
  "NPM_CONFIG_CAFILE",
  "NODE_EXTRA_CA_CERTS",
  "NODE_USE_ENV_PROXY",
  "WGETRC",
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
    for (const n of EXPECTED.slice(7, 14)) equal(v[n], join(state, "ca-bundle.pem"), n);
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
