import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { loadConfigText } from "../config/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { createGatewayCa } from "../tls/mod.ts";
import { UsageError } from "./_args.ts";
import { commandGrant } from "./_grants.ts";
import {
  parsePostgresUrl,
  quickstartConfig,
  quickstartVipRange,
  userStateHome,
} from "./_quickstart_config.ts";
import { findPostgresBin } from "./_quickstart_pg.ts";

Deno.test("parsePostgresUrl() refuses a password in argv, other schemes and unknown sslmodes", () => {
  deepEqual(parsePostgresUrl("postgres://agent@db.internal/app?sslmode=require"), {
    address: "db.internal:5432",
    user: "agent",
    database: "app",
    sslmode: "require",
  });
  equal(parsePostgresUrl("postgresql://a@[::1]:6543/x").address, "[::1]:6543");
  throws(() => parsePostgresUrl("postgres://agent:s3cret@db/app"), /must not carry the password/);
  throws(() => parsePostgresUrl("mysql://agent@db/app"), UsageError);
  throws(() => parsePostgresUrl("postgres://agent@db/"), /needs a user, a host and a database/);
  throws(() => parsePostgresUrl("postgres://agent@db/app?sslmode=allow"), /sslmode/);
});

Deno.test("userStateHome() follows XDG_STATE_HOME, else ~/.local/state", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  equal(userStateHome(env({ XDG_STATE_HOME: "/x/state", HOME: "/h" })), "/x/state");
  // A relative XDG_STATE_HOME is invalid by the spec and ignored.
  equal(userStateHome(env({ XDG_STATE_HOME: "rel", HOME: "/h" })), "/h/.local/state");
  throws(() => userStateHome(env({})), /HOME is not set/);
});

Deno.test("quickstartConfig() loads: a Postgres endpoint, the demo API and profile demo", async () => {
  const text = quickstartConfig({
    proxyListen: "127.0.0.1:1",
    adminListen: "127.0.0.1:2",
    postgresListen: "127.0.0.1:3",
    apiAddress: "127.0.0.1:4",
    database: { address: "127.0.0.1:5", user: "app_owner", database: "app", sslmode: "disable" },
    vipRange: quickstartVipRange(),
  });
  const dir = await Deno.makeTempDir();
  try {
    await createGatewayCa(join(dir, "demo-api"));
    const config = await loadConfigText(join(dir, "gateway.hcl"), text, {
      protocols: PROTOCOLS,
      baseDir: dir,
    });
    deepEqual([...config.endpoints.keys()].sort(), ["demo_api", "demo_db"]);
    // Known by its address alone, the database gets a name isolated runs dial.
    const db = config.endpoints.get("demo_db") as unknown as { host: string; upstream?: string };
    deepEqual([db.host, db.upstream], ["db.demo.test:5", "127.0.0.1:5"]);
    match(config.gateway.transparent!.vipRange, /^10\.79\.\d+\.0\/24$/);
    ok(config.profiles.has("demo"));
    deepEqual(config.rules.map((r) => r.name), [
      "pg-no-ddl",
      "pg-reads",
      "demo-api-reads",
      "demo-api-writes",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the quickstart's grant: loopback and its virtual IPs, its own directory, and PostgreSQL's programs only", async () => {
  const local = await commandGrant(["quickstart", "--dir", "/srv/qs"], "/app");
  deepEqual(local.net, ["127.0.0.1", "10.79.0.0/16", "10.77.0.0/16"]);
  ok(local.write.includes("/srv/qs"));
  ok(!local.write.includes("/app"), "it never writes the app");
  const bin = findPostgresBin();
  if (bin !== null) {
    deepEqual(
      local.run.slice(0, 3),
      ["initdb", "pg_ctl", "psql"].map((p) => join(bin, p)),
    );
  }
  const remote = await commandGrant(
    ["quickstart", "--dir", "/srv/qs", "--postgres", "postgres://a@db.internal:5433/app"],
    "/app",
  );
  deepEqual(remote.net, ["127.0.0.1", "10.79.0.0/16", "10.77.0.0/16", "db.internal:5433"]);
  deepEqual(remote.run, [], "a database of yours: nothing to start");
  const env = await commandGrant(["quickstart", "env", "--dir", "/srv/qs"], "/app");
  deepEqual(env.write, []);
  deepEqual(env.run, []);
});
