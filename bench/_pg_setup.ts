/**
 * Servers for bench/postgres.ts: the `bench` role and database in a throwaway cluster, the
 * clawpatrol gateway in this process (like tests/_pg_fixture.ts), and pgbench/psql runners with a
 * hard timeout. Everything listens on 127.0.0.1 only. pgbouncer: `_pg_bouncer.ts`.
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { AgentRegistry } from "../src/agents/mod.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { createState, Gateway, MemoryLogger, RECEIPTS_FILE } from "../src/gateway/mod.ts";
import type { PgCluster } from "../tests/_postgres.ts";

const PGBENCH = "/usr/bin/pgbench";
const PSQL = "/usr/bin/psql";
/** The role and database every target serves; the gateway's credential logs in as it. */
export const BENCH_USER = "bench";
export const BENCH_DB = "bench";

/** What a child process printed, and whether it had to be killed. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a command with a clean environment (a developer's PGHOST etc. must not leak in), `env`
 * added, stdin closed, killed with SIGKILL after `timeoutMs`.
 */
export async function runBounded(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", LANG: "C", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    const text = new TextDecoder();
    return {
      code: out.code,
      stdout: text.decode(out.stdout),
      stderr: text.decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A pgbench/psql login: where, as whom, with which password (passed in the environment). */
export interface Target {
  name: string;
  port: number;
  user: string;
  password: string;
}

/** Runs pgbench against `target` (host, port, user first; `args` end with the database). */
export function pgbench(target: Target, args: string[], timeoutMs: number): Promise<RunResult> {
  const conn = ["-h", "127.0.0.1", "-p", String(target.port), "-U", target.user];
  return runBounded(PGBENCH, [...conn, ...args], {
    PGPASSWORD: target.password,
    PGSSLMODE: "disable",
    PGCONNECT_TIMEOUT: "10",
  }, timeoutMs);
}

/** Runs one SQL command (`psql -c`) in database `bench`; returns what psql printed. */
export function psql(target: Target, sql: string, timeoutMs = 20_000): Promise<RunResult> {
  const conninfo = `host=127.0.0.1 port=${target.port} user=${target.user} dbname=${BENCH_DB}`;
  return runBounded(PSQL, ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, conninfo], {
    PGPASSWORD: target.password,
    PGSSLMODE: "disable",
    PGCONNECT_TIMEOUT: "10",
  }, timeoutMs);
}

function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "x");
}

/**
 * Creates role `bench` (SCRAM) owning database `bench`, fills it with `pgbench -i -s scale`
 * (which also vacuums) and returns the password and the role's SCRAM verifier (for pgbouncer).
 */
export async function prepareBenchDatabase(
  cluster: PgCluster,
  scale: number,
): Promise<{ direct: Target; verifier: string }> {
  const password = randomPassword();
  await cluster.addUser(BENCH_USER, password, "scram-sha-256");
  await cluster.sql(`CREATE DATABASE ${BENCH_DB} OWNER ${BENCH_USER}`);
  const verifier = (await cluster.sql(
    `SELECT rolpassword FROM pg_authid WHERE rolname = '${BENCH_USER}'`,
  )).trim();
  if (!verifier.startsWith("SCRAM-SHA-256$")) throw new Error("bench role has no SCRAM verifier");
  const direct: Target = { name: "direct", port: cluster.port, user: BENCH_USER, password };
  const init = await pgbench(direct, ["-i", "-q", "-s", String(scale), BENCH_DB], 600_000);
  if (init.code !== 0) {
    throw new Error(`pgbench -i failed (exit ${init.code}${init.timedOut ? ", timed out" : ""}):
${init.stderr.trim()}`);
  }
  return { direct, verifier };
}

/** A gateway started in this process. */
export interface BenchGateway {
  target: Target;
  gateway: Gateway;
  log: MemoryLogger;
  /** Receipts committed so far (waits for the queue to drain first). */
  receipts(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The policy: deny DDL first; allow pgbench -N's writes to its own two tables, and reads and
 * transaction control; anything else unmatched.
 */
const RULES = `
rule "pg-no-ddl" {
  endpoint  = postgres.pg
  priority  = 100
  condition = "sql.verbs.exists(v, v in ['drop','truncate','alter','grant','revoke','create'])"
  verdict   = "deny"
  reason    = "Schema changes land via migration PR, not via the agent"
}
rule "pg-bench-writes" {
  endpoint  = postgres.pg
  condition = "sql.verbs.exists(v, v in ['update','insert']) && sql.verbs.all(v, v in ['update','insert']) && sql.tables.all(t, t in ['pgbench_accounts','pgbench_history'])"
  verdict   = "allow"
}
rule "pg-read" {
  endpoint  = postgres.pg
  condition = "sql.verbs.all(v, v in ['select','begin','commit','rollback','show','set'])"
  verdict   = "allow"
}
`;

/** Writes config and state as `init`, `vault set` and `agent add` would, then starts it. */
export async function startBenchGateway(
  clusterPort: number,
  upstreamPassword: string,
): Promise<BenchGateway> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_pg_bench_" });
  let gateway: Gateway | undefined;
  const stop = async () => {
    try {
      if (gateway) await withTimeout(gateway.stop(), 15_000, "gateway stop");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };
  try {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(
      config,
      `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
}
endpoint "postgres" "pg" {
  host    = "127.0.0.1:${clusterPort}"
  listen  = "127.0.0.1:0"
  sslmode = "disable"
}
credential "postgres_credential" "pg_bench" {
  endpoint = postgres.pg
  user     = "${BENCH_USER}"
}
profile "bench" {
  credentials = [postgres_credential.pg_bench]
}
${RULES}`,
    );
    const stateDir = join(dir, "state");
    await createState(stateDir, false);
    const vault = await openVault(stateDir);
    try {
      await vault.set("pg_bench", DEFAULT_SLOT, upstreamPassword);
    } finally {
      vault.close();
    }
    const token = AgentRegistry.open(stateDir).add("bench-agent", "bench");
    const log = new MemoryLogger();
    gateway = await withTimeout(
      Gateway.start(config, { log, version: "bench", watch: false }),
      60_000,
      "gateway start",
    );
    const address = gateway.listenerAddresses("postgres").get("pg");
    if (!address) throw new Error("the gateway has no listener for endpoint pg");
    const target: Target = {
      name: "gateway",
      port: address.port,
      user: BENCH_USER,
      password: token,
    };
    const receipts = async () => {
      await gateway!.settled(30_000);
      const db = new DatabaseSync(join(stateDir, RECEIPTS_FILE), { readOnly: true });
      try {
        return Number((db.prepare("SELECT count(*) AS n FROM receipts").get() as { n: number }).n);
      } finally {
        db.close();
      }
    };
    return { target, gateway, log, receipts, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Rejects with `what timed out` after `ms`; the underlying work is left to finish. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** User + system CPU time of a process so far, in ms (Linux /proc; 10 ms ticks). */
export function cpuMs(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
