// The vault in the shared store (issue 24, `gateway.store_vault`): two gateways holding the same
// vault key share credentials and the gateway CA. A value set with A's CLI is injected by B
// within seconds, and removed with B's CLI it stops being injected by A; both present leaf
// certificates from one CA (A's, which B adopted at start); the database holds only sealed values
// and the wrapped root, never the key nor a value; a gateway whose key cannot open the store's
// vault refuses to start (exit 2) and says how to fix it.
import { equal, match, notEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { postgresAvailable } from "./_postgres.ts";
import { type Served } from "./_crash_load.ts";
import { cli, eventually, withTempDir } from "./_helpers.ts";
import {
  getAs,
  serveShared,
  sharedGatewayDir,
  storeCli,
  withSharedStore,
} from "./_shared_store.ts";

function pgBlocks(port: number): string {
  return `endpoint "postgres" "db" {
  host       = "127.0.0.1:${port}"
  listen     = "127.0.0.1:0"
  sslmode    = "disable"
  listen_tls = false
}
credential "postgres_credential" "db_rw" {
  endpoint = postgres.db
  user     = "app"
  database = "postgres"
}
rule "pg-reads" {
  endpoint  = postgres.db
  condition = "sql.verb == 'select'"
  verdict   = "allow"
}
`;
}

/** psql through `served`'s Postgres listener as the agent: its exit code and output. */
async function psql(served: Served, token: string, sql: string) {
  const out = await new Deno.Command("psql", {
    args: ["-X", "-q", "-A", "-t", "-c", sql],
    env: {
      PGHOST: "127.0.0.1",
      PGPORT: String(served.pgPort),
      PGUSER: "app",
      PGDATABASE: "postgres",
      PGSSLMODE: "disable",
      PGPASSWORD: token,
      PGCONNECT_TIMEOUT: "10",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Adds `store_vault = true` to the gateway block of `config`. */
async function keepVaultInStore(config: string): Promise<void> {
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(config, text.replace(/( {2}store +=.*\n)/, "$1  store_vault = true\n"));
}

Deno.test({
  name:
    "store_vault: a credential set through A is injected by B, both present one CA, a wrong key refuses",
  ignore: !postgresAvailable(),
}, async () => {
  await withSharedStore(async ({ dir, store: s, upstream, served }) => {
    const appPassword = `app-${crypto.randomUUID()}`;
    await s.pg.addUser("app", appPassword);
    const [a, b, c] = await Promise.all(
      ["a", "b", "c"].map((n) =>
        sharedGatewayDir(join(dir, n), s, {
          upstream,
          extra: pgBlocks(s.pg.port),
          credentials: ["postgres_credential.db_rw"],
        })
      ),
    );
    for (const config of [a, b, c]) await keepVaultInStore(config);
    // B gets A's vault key (as an operator copies master.key); C keeps its own.
    await Deno.copyFile(join(dir, "a/state/master.key"), join(dir, "b/state/master.key"));
    const ownCa = await Deno.readTextFile(join(dir, "b/state/ca.pem"));

    const added = await storeCli(a, s, ["agent", "add", "bot", "--profile", "bots"]);
    const bot = added.stdout.trim().split("\n").at(-1)!;
    served.push(await serveShared(a, s));
    served.push(await serveShared(b, s));

    // One CA: B took A's certificate (and key); a client trusting only A's CA reaches both.
    const caA = await Deno.readTextFile(join(dir, "a/state/ca.pem"));
    equal(await Deno.readTextFile(join(dir, "b/state/ca.pem")), caA);
    notEqual(caA, ownCa);
    for (const g of served) equal(await getAs(g, caA, "bot", bot), 200);

    // No value yet: B cannot log in as app. Set through A's CLI, B injects it.
    const before = await psql(served[1], bot, "SELECT current_user");
    notEqual(before.code, 0);
    const set = await cli(["vault", "set", "db_rw", "-c", a], { env: s.env, input: appPassword });
    equal(set.code, 0, set.stderr);
    await eventually(
      "B to inject the credential set through A",
      async () => {
        const r = await psql(served[1], bot, "SELECT current_user");
        return r.code === 0 && r.stdout.trim() === "app" ? true : undefined;
      },
      20_000,
      250,
    );

    // The database holds sealed bytes only: neither the value nor either host's key.
    const dump = await s.pg.sql(
      `SELECT encode(coalesce(nonce, ''), 'hex') || encode(coalesce(ciphertext, ''), 'hex') ||
         coalesce(fingerprint, '') || name || slot FROM clawpatrol_vault;
       SELECT encode(root, 'hex') FROM clawpatrol_vault_root;`,
      "clawpatrol",
    );
    match(dump, /db_rw/);
    ok(!dump.includes(appPassword) && !dump.includes(hexOf(appPassword)));
    const keyA = await Deno.readFile(join(dir, "a/state/master.key"));
    ok(!dump.includes(hexOf(new TextDecoder().decode(keyA).trim())));

    // Removed through B's CLI: A stops injecting it.
    const removed = await storeCli(b, s, ["vault", "rm", "db_rw"]);
    equal(removed.code, 0, removed.stderr);
    await eventually(
      "A to drop the credential removed through B",
      async () => {
        const r = await psql(served[0], bot, "SELECT current_user");
        return r.code !== 0 ? true : undefined;
      },
      20_000,
      250,
    );

    // C's own key cannot open the store's vault: refused, exit 2, nothing served.
    const refused = await cli(["serve", "-c", c], { env: s.env, timeoutMs: 60_000 });
    equal(refused.code, 2, refused.stderr);
    match(refused.stderr, /does not open the vault kept in the store/);
    match(refused.stderr, /copy master\.key/);
    ok(!/serving:/.test(refused.stderr));
    const keyC = new TextDecoder().decode(await Deno.readFile(join(dir, "c/state/master.key")));
    ok(!refused.stderr.includes(keyC.trim()), "the key is never printed");
    // C's CLI too: it would seal values no other gateway can open, so it refuses.
    const cliRefused = await cli(["vault", "list", "-c", c], { env: s.env });
    equal(cliRefused.code, 1, cliRefused.stdout + cliRefused.stderr);
    match(cliRefused.stderr, /does not open the vault kept in the store/);
  });
});

function hexOf(text: string): string {
  return Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

Deno.test("store_vault without a store is a config problem naming the line", async () => {
  await withTempDir(async (dir) => {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(
      config,
      `schema_version = 1\ngateway {\n  state_dir   = "./state"\n  store_vault = true\n}\n`,
    );
    const r = await cli(["check", "-c", config]);
    equal(r.code, 2, r.stdout + r.stderr);
    match(
      r.stderr,
      /gateway\.hcl:4.*'store_vault' keeps the vault in the shared store: set 'store' too/,
    );
  });
});
