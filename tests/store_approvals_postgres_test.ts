// A psql statement held on gateway B is approved through gateway A's admin API (issue 24): the
// Postgres listener waits at the held UPDATE, the other gateway lists it, decides it, and the
// statement runs once; a denied one never reaches the database.
import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { postgresAvailable } from "./_postgres.ts";
import { type Served } from "./_crash_load.ts";
import { eventually } from "./_helpers.ts";
import { serveShared, sharedGatewayDir, storeCli, withSharedStore } from "./_shared_store.ts";

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
  database = "app"
}
approver "human_approver" "dba" {
  timeout = "2m"
}
rule "pg-updates" {
  endpoint  = postgres.db
  condition = "sql.verb == 'update'"
  approve   = [human_approver.dba]
}
rule "pg-reads" {
  endpoint  = postgres.db
  condition = "sql.verb == 'select'"
  verdict   = "allow"
}
`;
}

/** psql through `served`'s Postgres listener as the agent; resolves with its exit and output. */
async function psql(served: Served, token: string, sql: string) {
  const out = await new Deno.Command("psql", {
    args: ["-X", "-q", "-A", "-t", "-c", sql],
    env: {
      PGHOST: "127.0.0.1",
      PGPORT: String(served.pgPort),
      PGUSER: "app",
      PGDATABASE: "app",
      PGSSLMODE: "disable",
      PGPASSWORD: token,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

async function adminPost(served: Served, token: string, path: string, who: string) {
  const res = await fetch(`${served.admin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ who }),
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test({
  name: "store: a psql statement held on B is approved on A and runs once; denied on A, never",
  ignore: !postgresAvailable(),
}, async () => {
  await withSharedStore(async ({ dir, store: s, upstream, served }) => {
    const appPassword = `app-${crypto.randomUUID()}`;
    await s.pg.addUser("app", appPassword);
    await s.pg.sql("CREATE DATABASE app OWNER app");
    await s.pg.sql(
      "CREATE TABLE counters (id int PRIMARY KEY, n int); INSERT INTO counters VALUES (1, 1); " +
        "GRANT ALL ON counters TO app",
      "app",
    );
    const configs = await Promise.all(["a", "b"].map((n) =>
      sharedGatewayDir(join(dir, n), s, {
        upstream,
        extra: pgBlocks(s.pg.port),
        credentials: ["postgres_credential.db_rw"],
        secrets: { db_rw: appPassword },
      })
    ));
    const added = await storeCli(configs[0], s, ["agent", "add", "bot", "--profile", "bots"]);
    equal(added.code, 0, added.stderr);
    const bot = added.stdout.trim().split("\n").at(-1)!;
    served.push(...await Promise.all(configs.map((c) => serveShared(c, s))));
    const [a, b] = served;
    const adminA = (await Deno.readTextFile(join(dir, "a/state/admin.token"))).trim();

    const heldOnA = async (summary: string) =>
      await eventually(
        `'${summary}' to be listed on A`,
        async () => {
          const res = await fetch(`${a.admin}/approvals`, {
            headers: { authorization: `Bearer ${adminA}` },
          });
          const { approvals } = await res.json() as {
            approvals: { id: string; summary: string }[];
          };
          return approvals.find((p) => p.summary === summary)?.id;
        },
        10_000,
        20,
      );

    const approved = psql(b, bot, "update counters set n = n + 10 where id = 1");
    const id = await heldOnA("update counters set n = n + 10 where id = 1");
    equal(await adminPost(a, adminA, `/approvals/${id}/approve`, "dba"), 200);
    const ran = await approved;
    equal(ran.code, 0, ran.stderr);
    equal((await s.pg.sql("SELECT n FROM counters", "app")).trim(), "11");

    const denied = psql(b, bot, "update counters set n = 0 where id = 1");
    const deniedId = await heldOnA("update counters set n = 0 where id = 1");
    equal(await adminPost(a, adminA, `/approvals/${deniedId}/deny`, "dba"), 200);
    const refused = await denied;
    equal(refused.code, 1);
    match(refused.stderr, /denied by clawpatrol: denied by cli:dba/);
    equal((await s.pg.sql("SELECT n FROM counters", "app")).trim(), "11");
  });
});
