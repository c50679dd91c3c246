// What `env` and `run` set besides the proxy: NODE_USE_ENV_PROXY, npm's and wget's CA settings,
// and libpq's PG* for the profile's first Postgres credential; end to end as real subprocesses,
// with psql reaching a real PostgreSQL through the gateway on those variables alone.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { openVault } from "../src/credentials/mod.ts";
import { loadGatewayCa, mintLeaf } from "../src/tls/mod.ts";
import { cli, closedPort, initDir, withTempDir } from "./_helpers.ts";
import { addAgent, lines, sourced } from "./_agent_cli_fixture.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { pgClusterTest, RO_PASSWORD } from "./_pg_fixture.ts";

/** Two Postgres credentials (the first wins), one on a listener that is not loopback. */
const PG_CONFIG = `
endpoint "postgres" "pg_main" {
  host   = "db.internal:5432"
  listen = "127.0.0.1:15432"
}
endpoint "postgres" "pg_far" {
  host   = "db2.internal:5432"
  listen = "10.9.8.7:15433"
}
endpoint "postgres" "pg_plain" {
  host       = "db3.internal:5432"
  listen     = "0.0.0.0:15434"
  listen_tls = false
}
endpoint "postgres" "pg_v6" {
  host   = "db4.internal:5432"
  listen = "[::1]:15435"
}
endpoint "postgres" "pg_any" {
  host   = "db5.internal:5432"
  listen = "127.0.0.1:0"
}
credential "postgres_credential" "main_ro" {
  endpoint = postgres.pg_main
  user     = "agent_ro"
  database = "app"
}
credential "postgres_credential" "far_rw" {
  endpoint = postgres.pg_far
  user     = "agent_rw"
  database = "other"
}
credential "postgres_credential" "plain_ro" {
  endpoint = postgres.pg_plain
  user     = "plain"
}
credential "postgres_credential" "v6_ro" {
  endpoint = postgres.pg_v6
  user     = "six"
}
credential "postgres_credential" "any_ro" {
  endpoint = postgres.pg_any
  user     = "anyone"
}
profile "sql" {
  credentials = [bearer_token.github_pat, postgres_credential.main_ro, postgres_credential.far_rw]
}
profile "sql-plain" {
  credentials = [postgres_credential.plain_ro, postgres_credential.main_ro]
}
profile "sql-v6" {
  credentials = [postgres_credential.v6_ro]
}
profile "sql-any" {
  credentials = [postgres_credential.any_ro]
}
`;

const PG_VARS = [
  "PGHOST",
  "PGPORT",
  "PGUSER",
  "PGDATABASE",
  "PGPASSWORD",
  "PGSSLMODE",
  "PGSSLROOTCERT",
];

/** `KEY=VALUE` lines of `env` output as a record (a line without `=` continues a value). */
function parseEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

/** Runs `env --agent NAME` and returns its exported names, in order, and their values. */
async function envOf(dir: string, agent: string, token: string) {
  const r = await cli(["env", "--agent", agent, "--token", token], { cwd: dir });
  equal(r.code, 0, r.stderr);
  const names = lines(r.stdout).map((l) => l.slice("export ".length, l.indexOf("=")));
  return { names, values: await sourced(r.stdout, names), stderr: r.stderr, stdout: r.stdout };
}

Deno.test("run sets NODE_USE_ENV_PROXY, npm's and wget's CA, and PG* for the first Postgres credential", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    await Deno.writeTextFile(config, (await Deno.readTextFile(config)) + PG_CONFIG);
    const token = await addAgent(dir, "bot", "sql");
    const r = await cli(["run", "--agent", "bot", "--token", token, "--", "sh", "-c", "env"], {
      cwd: dir,
    });
    equal(r.code, 0, r.stderr);
    equal(r.stderr, "");
    const v = parseEnv(r.stdout);
    const state = join(await Deno.realPath(dir), "state");
    const bundle = join(state, "ca-bundle.pem");

    equal(v.NODE_USE_ENV_PROXY, "1");
    equal(v.NODE_EXTRA_CA_CERTS, join(state, "ca.pem"), "the gateway CA alone, as before");
    equal(v.NPM_CONFIG_CAFILE, bundle, "npm's cafile replaces its roots: the whole bundle");
    equal(v.SSL_CERT_FILE, bundle);
    equal(v.WGETRC, join(state, "wgetrc"));
    equal(
      await Deno.readTextFile(v.WGETRC),
      `${"# Written by clawpatrol env/run: wget trusts the gateway CA (and the system roots).\n"}ca_certificate = ${bundle}\n`,
    );
    equal((await Deno.stat(v.WGETRC)).mode! & 0o777, 0o644);

    // The first Postgres credential in profile order: main_ro, not far_rw.
    equal(v.PGHOST, "127.0.0.1");
    equal(v.PGPORT, "15432");
    equal(v.PGUSER, "agent_ro");
    equal(v.PGDATABASE, "app");
    equal(v.PGPASSWORD, token, "the agent logs in to the listener with its token");
    equal(v.PGSSLMODE, "verify-ca");
    equal(v.PGSSLROOTCERT, join(state, "ca.pem"));
    // Every Postgres listener of the profile is dialled directly, the far one included.
    equal(v.NO_PROXY, "localhost,127.0.0.1,::1,10.9.8.7");
    equal(v.no_proxy, v.NO_PROXY);
    equal(v.GITHUB_TOKEN, "{{github_pat}}", "placeholders still follow");
  });
});

Deno.test("env prints the PG* variables in order, the token as PGPASSWORD like the proxy URL", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    await Deno.writeTextFile(config, (await Deno.readTextFile(config)) + PG_CONFIG);
    const token = await addAgent(dir, "bot", "sql");
    const { names, values, stderr, stdout } = await envOf(dir, "bot", token);
    equal(stderr, "");
    const at = names.indexOf("NODE_EXTRA_CA_CERTS");
    deepEqual(names.slice(at, at + 3), ["NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY", "WGETRC"]);
    deepEqual(names.slice(at + 3), [...PG_VARS, "GITHUB_TOKEN"]);
    ok(names.indexOf("NPM_CONFIG_CAFILE") < at, "with the other bundle variables");
    equal(values.PGPASSWORD, token);
    // The token is in the proxy URLs and PGPASSWORD, nowhere else.
    equal(stdout.split(token).length - 1, 5);
    ok(stdout.includes(`export PGPASSWORD='${token}'`));

    // listen_tls = false: the listener answers N, so no TLS at all; no database: none set;
    // a wildcard bind is dialled on loopback. plain_ro comes first in that profile.
    const plainToken = await addAgent(dir, "plain", "sql-plain");
    const plain = await envOf(dir, "plain", plainToken);
    deepEqual(plain.names.filter((n) => n.startsWith("PG")), [
      "PGHOST",
      "PGPORT",
      "PGUSER",
      "PGPASSWORD",
      "PGSSLMODE",
    ]);
    equal(plain.values.PGHOST, "127.0.0.1");
    equal(plain.values.PGPORT, "15434");
    equal(plain.values.PGUSER, "plain");
    equal(plain.values.PGSSLMODE, "disable");
    equal(plain.values.NO_PROXY, "localhost,127.0.0.1,::1");

    const sixToken = await addAgent(dir, "six", "sql-v6");
    const six = await envOf(dir, "six", sixToken);
    equal(six.values.PGHOST, "::1", "libpq takes IPv6 without brackets");
    equal(six.values.PGPORT, "15435");
    equal(six.values.NO_PROXY, "localhost,127.0.0.1,::1");

    // A port picked at start cannot be named: no PG*, and a warning that says so.
    const anyToken = await addAgent(dir, "any", "sql-any");
    const any = await envOf(dir, "any", anyToken);
    equal(any.names.some((n) => n.startsWith("PG")), false);
    match(any.stderr, /postgres endpoint 'pg_any' listens on a port picked at start/);
    equal(any.stderr.includes(anyToken), false);

    // A profile without a Postgres credential gets no PG* but the rest.
    const noneToken = await addAgent(dir, "none", "default");
    const none = await envOf(dir, "none", noneToken);
    equal(none.names.some((n) => n.startsWith("PG")), false);
    equal(none.values.NODE_USE_ENV_PROXY, "1");
    equal(none.values.WGETRC, join(await Deno.realPath(dir), "state", "wgetrc"));
  });
});

const has = (program: string) =>
  new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" }).outputSync()
    .success;

Deno.test({
  name: "under run, wget trusts the gateway CA through WGETRC (and does not without it)",
  ignore: !has("wget"),
  async fn() {
    await withTempDir(async (dir) => {
      await initDir(dir);
      const state = join(dir, "state");
      const vault = await openVault(state);
      const caKey = await vault.get("@gateway", "ca_key");
      vault.close();
      ok(caKey, "the gateway CA key is in the vault");
      const leaf = await mintLeaf(
        await loadGatewayCa(state, { privateKeyPem: caKey }),
        "127.0.0.1",
      );
      const server = Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        cert: leaf.certPem,
        key: leaf.keyPem,
        onListen() {},
      }, () => new Response("hello from a gateway leaf\n"));
      try {
        const url = `https://127.0.0.1:${server.addr.port}/`; // 127.0.0.1 is in NO_PROXY
        const token = await addAgent(dir, "bot");
        const wget = ["wget", "-q", "-O", "-", url];
        const r = await cli(["run", "--agent", "bot", "--token", token, "--", ...wget], {
          cwd: dir,
        });
        equal(r.code, 0, r.stderr);
        equal(r.stdout, "hello from a gateway leaf\n");
        // Without run's wgetrc (an empty one instead of ~/.wgetrc) the same leaf is refused.
        const empty = join(dir, "empty-wgetrc");
        await Deno.writeTextFile(empty, "");
        const bare = await new Deno.Command(wget[0], {
          args: wget.slice(1),
          env: { WGETRC: empty },
          stdout: "null",
          stderr: "null",
        }).output();
        equal(bare.code, 5, "wget exits 5 on a certificate it cannot verify");
      } finally {
        await server.shutdown();
      }
    });
  },
});

Deno.test({
  name: "under run, node sees NODE_USE_ENV_PROXY=1",
  ignore: !has("node"),
  async fn() {
    await withTempDir(async (dir) => {
      await initDir(dir);
      const token = await addAgent(dir, "bot");
      const r = await cli(
        [
          "run",
          "--agent",
          "bot",
          "--token",
          token,
          "--",
          "node",
          "-e",
          "console.log(process.env.NODE_USE_ENV_PROXY)",
        ],
        { cwd: dir },
      );
      equal(r.code, 0, r.stderr);
      equal(r.stdout, "1\n");
    });
  },
});

pgClusterTest(
  "under run, psql reaches PostgreSQL through the gateway with no flags",
  async (t, pg) => {
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_pgenv_" });
    const tlsPort = closedPort();
    const plainPort = closedPort();
    const upstream = `127.0.0.1:${pg.port}`;
    const config = `${gatewayHeader()}
endpoint "postgres" "pg" {
  host    = "${upstream}"
  listen  = "127.0.0.1:${tlsPort}"
  sslmode = "disable"
}
endpoint "postgres" "pgplain" {
  host       = "${upstream}"
  listen     = "127.0.0.1:${plainPort}"
  sslmode    = "disable"
  listen_tls = false
}
credential "postgres_credential" "pg_ro" {
  endpoint = postgres.pg
  user     = "agent_ro"
  database = "app"
}
credential "postgres_credential" "plain_ro" {
  endpoint = postgres.pgplain
  user     = "agent_ro"
  database = "app"
}
profile "sql" {
  credentials = [postgres_credential.pg_ro]
}
profile "sql-plain" {
  credentials = [postgres_credential.plain_ro]
}
rule "reads" {
  endpoints = [postgres.pg, postgres.pgplain]
  condition = "sql.read_only"
  verdict   = "allow"
}
`;
    const { gateway, registry, token } = await startTestGateway(
      dir,
      config,
      { pg_ro: RO_PASSWORD, plain_ro: RO_PASSWORD },
      { name: "bot", profile: "sql" },
    );
    const plainToken = registry.add("plainbot", "sql-plain");
    // Only the timeout comes from outside; host, port, user, database, password and TLS from run.
    const env = { PGCONNECT_TIMEOUT: "10" };
    const run = (agent: string, secret: string, command: string[]) =>
      cli(["run", "--agent", agent, "--token", secret, "--", ...command], { cwd: dir, env });
    try {
      await t.step(
        "psql -tAc 'select 1' prints 1, over TLS verified against the gateway CA",
        async () => {
          const r = await run("bot", token, ["psql", "-X", "-tAc", "select 1"]);
          equal(r.code, 0, r.stderr);
          equal(r.stdout, "1\n");
          equal(r.stderr, "");
          const info = await run("bot", token, ["psql", "-X", "-c", "\\conninfo"]);
          equal(info.code, 0, info.stderr);
          match(info.stdout, /database "app" as user "agent_ro" on host "127\.0\.0\.1"/);
          match(info.stdout, new RegExp(`at port "${tlsPort}"`));
          match(info.stdout, /SSL connection \(protocol: TLSv1\.3/);
          const who = await run("bot", token, ["psql", "-X", "-tAc", "select current_user"]);
          equal(who.stdout, "agent_ro\n", who.stderr);
        },
      );

      await t.step(
        "the leaf also passes verify-full for the address run names (libpq 15+)",
        async () => {
          const r = await run("bot", token, [
            "sh",
            "-c",
            "PGSSLMODE=verify-full psql -X -tAc 'select 2'",
          ]);
          equal(r.code, 0, r.stderr);
          equal(r.stdout, "2\n");
        },
      );

      await t.step(
        "verify-ca does verify: another root makes psql refuse the listener",
        async () => {
          const r = await run("bot", token, [
            "sh",
            "-c",
            "PGSSLROOTCERT=/etc/ssl/certs/ca-certificates.crt psql -X -tAc 'select 1'",
          ]);
          equal(r.code, 2, r.stdout);
          match(r.stderr, /certificate verify failed/);
        },
      );

      await t.step("a listener without TLS: PGSSLMODE=disable connects in the clear", async () => {
        const r = await run("plainbot", plainToken, ["psql", "-X", "-tAc", "select 3"]);
        equal(r.code, 0, r.stderr);
        equal(r.stdout, "3\n");
        const info = await run("plainbot", plainToken, ["psql", "-X", "-c", "\\conninfo"]);
        equal(info.code, 0, info.stderr);
        equal(info.stdout.includes("SSL connection"), false, info.stdout);
      });

      await t.step("still the gateway deciding: a DROP is denied", async () => {
        const r = await run("bot", token, ["psql", "-X", "-tAc", "drop table users"]);
        equal(r.code, 1);
        match(r.stderr, /denied by clawpatrol/);
        equal(await pg.sql("select count(*) from users", "app"), "3\n");
      });
    } finally {
      await gateway.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
