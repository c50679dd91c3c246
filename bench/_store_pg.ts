/**
 * The Postgres workload of bench/store_bench.ts: `pgbench -n -S -M simple` (select-only, one Query
 * message per statement, each parsed, decided and given a receipt) through `serve` processes,
 * against database `bench` in the same PostgreSQL the gateways share as their store. Clients are
 * split evenly over the gateways measured together, and each gateway's CPU per transaction is
 * its own process's utime + stime delta over the transactions it carried.
 *
 * @module
 */

import type { Served } from "../tests/_crash_load.ts";
import type { SharedStore } from "../tests/_shared_store.ts";
import { BENCH_DB, BENCH_USER, cpuMs, pgbench, prepareBenchDatabase } from "./_pg_setup.ts";

/** pgbench's scale: 100,000 accounts, enough for an index lookup per select. */
const SCALE = 1;

/** Fills database `bench` in the store's cluster; the password the gateways' credential uses. */
export async function preparePgWorkload(store: SharedStore): Promise<string> {
  return (await prepareBenchDatabase(store.pg, SCALE)).direct.password;
}

/**
 * Config blocks for the workload: endpoint `postgres.db` (its listener is what `serveShared`
 * reports as `pgPort`), credential `pg_bench` (vault value: the role's password) and the read
 * policy of bench/postgres.ts. Give profile `bots` `CREDENTIALS`.
 */
export function pgBlocks(port: number): string {
  return `endpoint "postgres" "db" {
  host       = "127.0.0.1:${port}"
  listen     = "127.0.0.1:0"
  sslmode    = "disable"
  listen_tls = false
}
credential "postgres_credential" "pg_bench" {
  endpoint = postgres.db
  user     = "${BENCH_USER}"
  database = "${BENCH_DB}"
}
rule "pg-read" {
  endpoint  = postgres.db
  condition = "sql.verbs.all(v, v in ['select','begin','commit','rollback','show','set'])"
  verdict   = "allow"
}
`;
}

/** What profile `bots` lists for the workload. */
export const CREDENTIALS = ["postgres_credential.pg_bench"];

/** A gateway to drive, and the agent token pgbench logs in with. */
export interface PgTarget {
  served: Served;
  token: string;
}

/** One measurement: transactions/s over every gateway, and each gateway's CPU µs per one. */
export interface PgResult {
  tps: number;
  cpuUs: number[];
}

/**
 * `pgbench -S` for `seconds` through every target at once, `clients` split evenly over them
 * (after a one-second warm-up each). Throws on any failure, so a broken path never reads as slow.
 */
export async function measurePg(
  targets: PgTarget[],
  { clients, seconds }: { clients: number; seconds: number },
): Promise<PgResult> {
  const per = Math.max(1, Math.floor(clients / targets.length));
  await Promise.all(targets.map((t) => run(t, per, 1)));
  const before = targets.map((t) => cpuMs(t.served.gw.child.pid));
  const runs = await Promise.all(targets.map((t) => run(t, per, seconds)));
  const cpuUs = targets.map((t, i) =>
    (cpuMs(t.served.gw.child.pid) - before[i]) * 1000 / runs[i].transactions
  );
  return { tps: runs.reduce((sum, r) => sum + r.tps, 0), cpuUs };
}

async function run(t: PgTarget, clients: number, seconds: number) {
  const port = t.served.pgPort;
  if (port === undefined) throw new Error("the gateway has no Postgres listener (endpoint db)");
  const target = { name: "gateway", port, user: BENCH_USER, password: t.token };
  const args = ["-n", "-S", "-M", "simple", "-c", `${clients}`, "-j", `${Math.min(clients, 2)}`];
  const r = await pgbench(target, [...args, "-T", `${seconds}`, BENCH_DB], (seconds + 60) * 1000);
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? NaN);
  const tps = num(/tps = ([\d.]+) \(without initial connection time\)/);
  const transactions = num(/number of transactions actually processed: (\d+)/);
  const failed = num(/number of failed transactions: (\d+)/);
  if (r.code !== 0 || r.timedOut || !(tps > 0) || failed > 0) {
    const tail = (text: string) => text.trim().split("\n").slice(-10).join("\n");
    throw new Error(
      `pgbench through the gateway failed (exit ${r.code}${r.timedOut ? ", timed out" : ""}):\n` +
        `${tail(r.stderr)}\n${tail(r.stdout)}`,
    );
  }
  return { tps, transactions };
}
