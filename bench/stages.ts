/**
 * CPU per request by stage, for the HTTPS forward proxy and the Postgres listener: where the
 * gateway's time goes, so the next optimisation starts from a measurement. See `_stages.ts` for
 * what is clocked and how.
 *
 *     deno run -A bench/stages.ts [--seconds=5] [--warmup=4] [--only=https|postgres]
 *                                 [--gateway-v8-flags=…]   (HTTPS gateway child only)
 *                                 [--wire]   (HTTPS: also clock the exchange's synchronous
 *                                             socket, parse and pool steps)
 *                                 [--new-connections]   (HTTPS: each GET on a new connection,
 *                                             TCP + CONNECT + TLS, instead of keep-alive)
 *                                 [--connections=8]   (HTTPS: connections or workers; 1 shows
 *                                             one agent's sequential requests, where every
 *                                             request wakes the gateway on cold caches)
 *
 * HTTPS: the `http_proxy.ts` setup (upstream and gateway in child processes, 100 rules, receipts
 * in SQLite), keep-alive GET over 8 connections. Postgres: the `postgres.ts` setup (a throwaway
 * cluster, the gateway in this process), `pgbench -S -M simple`, 8 clients. Each runs 4 s of
 * warm-up, then the measured load; stages are per request (per transaction for Postgres), and
 * each thread's share is of the process's CPU in the same window. The wrappers add a little time
 * of their own (two clock reads per call), so the total is a touch above `http_proxy.ts`'s.
 * Stage clocks read wall time: on a busy machine a stage that was preempted (after a socket
 * write woke its peer, say) reads long, and "the rest" (the thread's CPU minus the clocked
 * stages) reads short, even below zero. Read them on a quiet machine.
 *
 * @module
 */

import { postgresAvailable, startPostgres } from "../tests/_postgres.ts";
import { PostgresSession } from "../src/protocols/postgres/session.ts";
import { SqlAnalyzer } from "../src/protocols/postgres/sql_facts.ts";
import { GET, keepAlive, newConnections, proxyPath } from "./_http_load.ts";
import { createUpstreamCa, HOST, startGateway, startUpstream } from "./_http_setup.ts";
import { BENCH_DB, pgbench, prepareBenchDatabase, startBenchGateway } from "./_pg_setup.ts";
import { probe, probeDecisionPath, resetStages, stageReport } from "./_stages.ts";
import { underShippedFlags } from "./_child.ts";

const seconds = Number(Deno.args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 5);
/** Unmeasured load first: V8 compiles the hot paths in the first 3–4 s (bench/README.md). */
const warmup = Number(Deno.args.find((a) => a.startsWith("--warmup="))?.slice(9) ?? 4);
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7);
const wire = Deno.args.includes("--wire");
const fresh = Deno.args.includes("--new-connections");
const connections = Number(
  Deno.args.find((a) => a.startsWith("--connections="))?.slice(14) ?? 8,
);
const v8Flags = Deno.args.find((a) => a.startsWith("--gateway-v8-flags="))?.slice(19) ?? "";

/** Prints one table: each stage's µs per request and its share of the process's CPU. */
function table(
  title: string,
  before: Record<string, number>,
  after: Record<string, number>,
  n: number,
) {
  const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
  const threads = Object.keys(after).filter((k) => k.startsWith("thread "));
  const total = threads.reduce((sum, k) => sum + delta(k), 0);
  const us = (ms: number) => (ms * 1000 / n).toFixed(1);
  const share = (ms: number) => `${(100 * ms / total).toFixed(0)}%`;
  const rows: string[][] = [["process, all threads", us(total), "100%"]];
  for (const k of threads) rows.push([k.slice(7, -3), us(delta(k)), share(delta(k))]);
  const main = delta("thread main\tms");
  let clocked = 0;
  for (
    const k of Object.keys(after).filter((k) => !k.startsWith("thread ") && k.endsWith("\tms"))
  ) {
    const label = k.slice(0, -3);
    const calls = delta(`${label}\tcalls`) / n;
    const depth = label.length - label.trimStart().length;
    const name = `main: ${"… ".repeat(depth / 2)}${label.trim()} (${calls.toFixed(2)} calls)`;
    rows.push([name, us(delta(k)), share(delta(k))]);
    if (!label.startsWith(" ")) clocked += delta(k);
  }
  rows.push([
    "main: the rest (sockets, TLS, framing, streams, timers)",
    us(main - clocked),
    share(main - clocked),
  ]);
  console.log(`\n${title}\n\n| stage | µs per request | share |\n|---|---:|---:|`);
  for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
}

async function https(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_stages_" });
  const stops: (() => Promise<void>)[] = [];
  try {
    await createUpstreamCa(dir);
    const upstream = await startUpstream(dir);
    stops.push(() => upstream.stop());
    Deno.env.set("CLAWPATROL_BENCH_STAGES", wire ? "wire" : "1");
    const gateway = await startGateway(dir, upstream, { fdLimit: 4096, v8Flags });
    Deno.env.delete("CLAWPATROL_BENCH_STAGES");
    stops.push(() => gateway.child.stop());
    const path = proxyPath({
      name: "gateway",
      proxyPort: gateway.child.ready.port as number,
      connectTarget: `${HOST}:443`,
      caPem: gateway.caPem,
      pids: { proxy: gateway.child.ready.pid as number },
      authorization: `Basic ${btoa(`bot:${gateway.token}`)}`,
    });
    const load = (runMs: number) =>
      fresh
        ? newConnections(path, connections, { warmMs: 0, runMs })
        : keepAlive(path, GET, connections, { warmMs: 0, runMs });
    await load(warmup * 1000);
    await gateway.child.ask("reset");
    const before = await gateway.child.ask("stages");
    const cell = await load(seconds * 1000);
    const after = await gateway.child.ask("stages");
    const what = fresh
      ? `GET, each on a new connection, ${connections} workers`
      : `keep-alive GET, ${connections} connection${connections === 1 ? "" : "s"}`;
    table(
      `HTTPS ${what}, ${cell.count} requests (${Math.round(cell.rate)}/s)`,
      before,
      after,
      cell.count,
    );
  } finally {
    for (const stop of stops.reverse()) await stop();
    await Deno.remove(dir, { recursive: true });
  }
}

async function postgres(): Promise<void> {
  if (!postgresAvailable()) return console.log("\nPostgres: skipped (no PostgreSQL binaries)");
  probeDecisionPath("  ");
  probe(SqlAnalyzer.prototype, "analyze", "  sql facts");
  probe(PostgresSession.prototype, "received", "session.received: decode, decide, relay, write");
  const cluster = await startPostgres();
  try {
    const { direct } = await prepareBenchDatabase(cluster, 10);
    const gateway = await startBenchGateway(cluster.port, direct.password!);
    try {
      const args = ["-n", "-S", "-M", "simple", "-c", "8", "-j", "2", "-T"];
      await pgbench(gateway.target, [...args, String(warmup), BENCH_DB], 60_000);
      resetStages();
      const before = stageReport();
      const run = await pgbench(gateway.target, [...args, String(seconds), BENCH_DB], 120_000);
      const after = stageReport();
      const n = Number(/number of transactions actually processed: (\d+)/.exec(run.stdout)?.[1]);
      if (!(n > 0)) throw new Error(`pgbench failed: ${run.stderr}`);
      table(`Postgres pgbench -S -M simple, 8 clients, ${n} transactions`, before, after, n);
    } finally {
      await gateway.stop();
    }
  } finally {
    await cluster.stop();
  }
}

// The Postgres gateway runs in this process: under the launcher's V8 flags, as it ships.
const rerun = await underShippedFlags(import.meta.filename!);
if (rerun !== null) Deno.exit(rerun);
if (only !== "postgres") await https();
if (only !== "https") await postgres();
