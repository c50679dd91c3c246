/**
 * A gateway with Postgres endpoints in front of a real PostgreSQL 15 cluster (tests/_postgres.ts),
 * with agent `bot` enrolled. Tests drive it with psql, pgbench, npm:pg, npm:postgres or raw
 * sockets.
 *
 * Endpoints (all upstream = the cluster unless said otherwise):
 * - `pg`: read-only policy (SELECT/SHOW/EXPLAIN/transactions allowed, DDL denied by `pg-no-ddl`,
 *   anything else unmatched → deny); credential `pg_ro` (user `agent_ro`, who OWNS the tables,
 *   so only the gateway stands between the agent and a DROP).
 * - `pgrw`: everything allowed; credential `pg_rw` (user `agent_rw`, database owner).
 * - `pgparams`: a rule reads `sql.params` (denies the parameter value 'forbidden').
 * - `pgdown`: nothing listens upstream. `pgbadpw`: the vault holds a wrong password.
 * - `pgtls`: sslmode = require against the cluster, which has no TLS. `pgunset`: the vault holds
 *   no value for its credential. `pglocked`: the credential only opens database `postgres`.
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import { createState, Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { type PgCluster, postgresAvailable, startPostgres } from "./_postgres.ts";
import { closedPort } from "./_helpers.ts";
import { gatewayHeader } from "./_gateway.ts";

export const RO_PASSWORD = "ro-Upstream-Secret-7f3a9c";
export const RW_PASSWORD = "rw-Upstream-Secret-2b8e1d";

/** Roles, database and tables the fixture expects; run once per cluster. */
/**
 * A test against its own prepared cluster (see {@linkcode prepareCluster}), stopped afterwards
 * whatever happens; ignored where PostgreSQL is not installed.
 */
export function pgClusterTest(
  name: string,
  fn: (t: Deno.TestContext, cluster: PgCluster) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !postgresAvailable(),
    // The clients under test (npm:pg, sockets to the cluster) outlive single steps by design.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const cluster = await startPostgres();
      try {
        await prepareCluster(cluster);
        await fn(t, cluster);
      } finally {
        await cluster.stop();
      }
    },
  });
}

export async function prepareCluster(pg: PgCluster): Promise<void> {
  await pg.addUser("agent_ro", RO_PASSWORD);
  await pg.addUser("agent_rw", RW_PASSWORD);
  await pg.sql("CREATE DATABASE app OWNER agent_rw");
  await pg.sql(
    `CREATE TABLE users (id int PRIMARY KEY, name text);
     INSERT INTO users VALUES (1, 'ada'), (2, 'grace'), (3, 'linus');
     CREATE TABLE t (x int);
     ALTER TABLE users OWNER TO agent_ro;
     ALTER TABLE t OWNER TO agent_ro;
     GRANT ALL ON SCHEMA public TO agent_ro;`,
    "app",
  );
}

const RULES = `
rule "pg-no-ddl" {
  endpoint  = postgres.pg
  priority  = 100
  condition = "sql.verbs.exists(v, v in ['drop','truncate','alter','grant','revoke','create'])"
  verdict   = "deny"
  reason    = "Schema changes land via migration PR, not via the agent"
}
rule "pg-read-only" {
  endpoint  = postgres.pg
  condition = "!sql.dynamic && sql.verbs.all(v, v in ['select','show','explain','begin','commit','rollback'])"
  verdict   = "allow"
}
rule "rw-all" {
  endpoint  = postgres.pgrw
  condition = "true"
  verdict   = "allow"
}
rule "params-forbidden" {
  endpoint  = postgres.pgparams
  priority  = 10
  condition = "sql.params.exists(p, p == 'forbidden')"
  verdict   = "deny"
  reason    = "forbidden parameter"
}
rule "params-rest" {
  endpoints = [postgres.pgparams, postgres.pgdown, postgres.pgbadpw, postgres.pgtls,
               postgres.pgunset, postgres.pglocked]
  condition = "true"
  verdict   = "allow"
}
`;

/** What a test gets. */
export interface PgFixture {
  pg: PgCluster;
  dir: string;
  gateway: Gateway;
  log: MemoryLogger;
  token: string;
  registry: AgentRegistry;
  /** The gateway's listen port for an endpoint. */
  port(endpoint?: string): number;
  /** libpq connection string to the gateway for an endpoint. */
  dsn(endpoint?: string, extra?: string): string;
  /** Runs psql through the gateway with `script` on stdin (ON_ERROR_STOP off). */
  psql(
    script: string,
    options?: PsqlOptions,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  receipts(): Promise<Receipt[]>;
}

/** Options for {@linkcode PgFixture.psql}. */
export interface PsqlOptions {
  endpoint?: string;
  user?: string;
  database?: string;
  /** The password to present (default: the agent token). */
  password?: string;
  /** Extra `key=value` conninfo (e.g. `sslmode=require`). */
  conninfo?: string;
  env?: Record<string, string>;
}

const ENDPOINT_USERS: Record<string, string> = {
  pg: "agent_ro",
  pgrw: "agent_rw",
  pgparams: "agent_ro",
  pgdown: "agent_ro",
  pgbadpw: "agent_ro",
  pgtls: "agent_ro",
  pgunset: "agent_ro",
  pglocked: "agent_ro",
};

/** Runs `fn` against a fresh gateway in front of `pg`; tears the gateway down after. */
export async function withPgGateway(
  pg: PgCluster,
  options: { limits?: string; extra?: string; secrets?: Record<string, string> },
  fn: (fx: PgFixture) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_pg_" });
  const upstream = `127.0.0.1:${pg.port}`;
  const endpoint = (name: string, host = upstream, sslmode = "disable") =>
    `endpoint "postgres" "${name}" {\n  host = "${host}"\n  listen = "127.0.0.1:0"\n  sslmode = "${sslmode}"\n}\n`;
  const credential = (name: string, ep: string, user: string) =>
    `credential "postgres_credential" "${name}" {\n  endpoint = postgres.${ep}\n  user = "${user}"\n}\n`;
  const config = join(dir, "gateway.hcl");
  await Deno.writeTextFile(
    config,
    `${gatewayHeader(options.limits)}${endpoint("pg")}${endpoint("pgrw")}${endpoint("pgparams")}${
      endpoint("pgdown", `127.0.0.1:${closedPort()}`)
    }${endpoint("pgbadpw")}${endpoint("pgtls", upstream, "require")}${endpoint("pgunset")}${
      endpoint("pglocked")
    }
${credential("pg_ro", "pg", "agent_ro")}${credential("pg_rw", "pgrw", "agent_rw")}${
      credential("pg_params", "pgparams", "agent_ro")
    }${credential("pg_down", "pgdown", "agent_ro")}${
      credential("pg_badpw", "pgbadpw", "agent_ro")
    }${credential("pg_tls", "pgtls", "agent_ro")}${credential("pg_unset", "pgunset", "agent_ro")}
credential "postgres_credential" "pg_locked" {
  endpoint = postgres.pglocked
  user     = "agent_ro"
  database = "postgres"
}
profile "bots" {
  credentials = [postgres_credential.pg_ro, postgres_credential.pg_rw, postgres_credential.pg_params,
                 postgres_credential.pg_down, postgres_credential.pg_badpw, postgres_credential.pg_tls,
                 postgres_credential.pg_unset, postgres_credential.pg_locked]
}
profile "nobody" {
  endpoints = []
}
${RULES}
${options.extra ?? ""}
`,
  );
  const stateDir = join(dir, "state");
  await createState(stateDir, false);
  const vault = await openVault(stateDir);
  const secrets = {
    pg_ro: RO_PASSWORD,
    pg_rw: RW_PASSWORD,
    pg_params: RO_PASSWORD,
    pg_down: RO_PASSWORD,
    pg_badpw: "not-the-password",
    pg_tls: RO_PASSWORD,
    pg_locked: RO_PASSWORD,
    ...options.secrets,
  };
  for (const [name, value] of Object.entries(secrets)) await vault.set(name, DEFAULT_SLOT, value);
  vault.close();
  const registry = AgentRegistry.open(stateDir);
  const token = registry.add("bot", "bots");
  const log = new MemoryLogger();
  const gateway = await Gateway.start(config, { log, version: "test", watch: false });
  const port = (name = "pg") => gateway.listenerAddresses("postgres").get(name)!.port;
  const dsn = (name = "pg", extra = "") =>
    `host=127.0.0.1 port=${port(name)} user=${
      ENDPOINT_USERS[name]
    } dbname=app sslmode=disable ${extra}`;
  const fx: PgFixture = {
    pg,
    dir,
    gateway,
    log,
    token,
    registry,
    port,
    dsn,
    psql: async (script, o = {}) => {
      const ep = o.endpoint ?? "pg";
      const conninfo = `host=127.0.0.1 port=${port(ep)} user=${o.user ?? ENDPOINT_USERS[ep]} ` +
        `dbname=${o.database ?? "app"} ${o.conninfo ?? "sslmode=disable"}`;
      const child = new Deno.Command("psql", {
        args: ["-X", "-q", "-v", "ON_ERROR_STOP=0", "-At", "-f", "-", conninfo],
        env: { PGPASSWORD: o.password ?? token, PGCONNECT_TIMEOUT: "10", ...o.env },
        clearEnv: false,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(script));
      await writer.close();
      const out = await child.output();
      return {
        code: out.code,
        stdout: new TextDecoder().decode(out.stdout),
        stderr: new TextDecoder().decode(out.stderr),
      };
    },
    receipts: async () => {
      await gateway.settled();
      return queryReceipts(join(stateDir, "receipts.db"));
    },
  };
  try {
    await fn(fx);
  } finally {
    await gateway.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
