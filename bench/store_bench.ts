/**
 * The shared store's cost on the request path (issue 24), for two workloads: HTTPS GETs, and
 * `pgbench -S -M simple` through the gateways' Postgres listener (`_store_pg.ts`), each through
 * one gateway on the embedded default (SQLite and files), one gateway on a shared PostgreSQL, and
 * two gateways on that PostgreSQL at once (the same load split between them). Prints throughput
 * and each gateway's CPU per action (from /proc/<pid>/stat). With the store, agents are checked
 * against an in-memory snapshot and receipts are committed to each gateway's SQLite and copied to
 * the store beside the request path, so the per-action cost should barely move; this shows it.
 * The Postgres workload's database is in the store's own cluster ("the same PostgreSQL").
 *
 * ```sh
 * deno run -A bench/store_bench.ts [--requests=3000] [--connections=4] [--seconds=5]
 *   [--clients=8] [--only=https|postgres]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { startUpstream } from "../tests/_crash_load.ts";
import { cli } from "../tests/_helpers.ts";
import {
  serveShared,
  sharedGatewayDir,
  startSharedStore,
  storeCli,
} from "../tests/_shared_store.ts";
import type { Served } from "../tests/_crash_load.ts";
import { CREDENTIALS, measurePg, pgBlocks, type PgResult, preparePgWorkload } from "./_store_pg.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    connections: { type: "string", default: "4" },
    seconds: { type: "string", default: "5" },
    clients: { type: "string", default: "8" },
    only: { type: "string" },
  },
});
const REQUESTS = Number(values.requests);
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
if (values.only !== undefined && values.only !== "https" && values.only !== "postgres") {
  throw new RangeError(`Cannot use --only='${values.only}': https or postgres`);
}
const HTTPS = values.only !== "postgres";
const POSTGRES = values.only !== "https";
const TICKS_PER_S = 100;

/** utime + stime of `pid`, in ms. */
function cpuMs(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_S;
}

interface Target {
  served: Served;
  ca: string;
  token: string;
}

/** `count` GETs over `CONNECTIONS` keep-alive tunnels through `t`. */
async function load(t: Target, count: number): Promise<void> {
  const per = Math.ceil(count / CONNECTIONS);
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    const client = Deno.createHttpClient({
      proxy: {
        url: `http://127.0.0.1:${t.served.proxyPort}`,
        basicAuth: { username: "bot", password: t.token },
      },
      caCerts: [t.ca],
    });
    try {
      for (let i = 0; i < per; i++) {
        const res = await fetch("https://api.test/bench", { client });
        await res.body?.cancel();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
      }
    } finally {
      client.close();
    }
  }));
}

/** Runs the load on every target at once; per target: requests/s and CPU µs per request. */
async function measure(targets: Target[]): Promise<{ rps: number; cpuUs: number[] }> {
  await Promise.all(targets.map((t) => load(t, 200))); // warm-up
  const before = targets.map((t) => cpuMs(t.served.gw.child.pid));
  const start = performance.now();
  await Promise.all(targets.map((t) => load(t, REQUESTS)));
  const seconds = (performance.now() - start) / 1000;
  const cpuUs = targets.map((t, i) => (cpuMs(t.served.gw.child.pid) - before[i]) * 1000 / REQUESTS);
  return { rps: (REQUESTS * targets.length) / seconds, cpuUs };
}

const dir = await Deno.makeTempDir({ prefix: "clawpatrol_store_bench_" });
const store = await startSharedStore();
const upstream = await startUpstream();
const running: Served[] = [];
try {
  const pgPassword = POSTGRES ? await preparePgWorkload(store) : "";
  const pg = POSTGRES
    ? {
      extra: pgBlocks(store.pg.port),
      credentials: CREDENTIALS,
      secrets: { pg_bench: pgPassword },
    }
    : {};
  const local = await sharedGatewayDir(join(dir, "local"), store, { upstream, ...pg });
  // The embedded default: the same config without the store.
  await Deno.writeTextFile(
    local,
    (await Deno.readTextFile(local)).replace(/^\s*store\s*=.*$/m, ""),
  );
  const shared = await Promise.all(
    ["s1", "s2"].map((n) => sharedGatewayDir(join(dir, n), store, { upstream, ...pg })),
  );
  const localToken = (await cli(["agent", "add", "bot", "--profile", "bots", "-c", local])).stdout
    .trim().split("\n").at(-1)!;
  const sharedToken =
    (await storeCli(shared[0], store, ["agent", "add", "bot", "--profile", "bots"])).stdout.trim()
      .split("\n").at(-1)!;
  const target = async (config: string, name: string, token: string): Promise<Target> => {
    const served = await serveShared(config, store);
    running.push(served);
    return { served, token, ca: await Deno.readTextFile(join(dir, name, "state/ca.pem")) };
  };
  const [l, s1, s2] = [
    await target(local, "local", localToken),
    await target(shared[0], "s1", sharedToken),
    await target(shared[1], "s2", sharedToken),
  ];
  const setups = [
    ["one gateway, embedded (SQLite)", [l]],
    ["one gateway, shared store", [s1]],
    ["two gateways, shared store", [s1, s2]],
  ] as const;
  const cpu = (us: number[]) => us.map((c) => c.toFixed(0)).join(" / ");
  console.log(`load average before: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
  if (HTTPS) {
    const rows: [string, { rps: number; cpuUs: number[] }][] = [];
    for (const [name, targets] of setups) rows.push([name, await measure([...targets])]);
    console.log(`${REQUESTS} HTTPS GETs per gateway over ${CONNECTIONS} keep-alive tunnels each`);
    console.log("| setup | requests/s (all gateways) | gateway CPU µs per request |");
    console.log("| --- | --- | --- |");
    for (const [name, r] of rows) {
      console.log(`| ${name} | ${r.rps.toFixed(0)} | ${cpu(r.cpuUs)} |`);
    }
  }
  if (POSTGRES) {
    const rows: [string, PgResult][] = [];
    for (const [name, targets] of setups) {
      const pgTargets = targets.map((t) => ({ served: t.served, token: t.token }));
      rows.push([name, await measurePg(pgTargets, { clients: CLIENTS, seconds: SECONDS })]);
    }
    console.log(
      `pgbench -n -S -M simple, ${CLIENTS} clients in all (split between the gateways), ${SECONDS} s`,
    );
    console.log("| setup | TPS (all gateways) | gateway CPU µs per transaction |");
    console.log("| --- | --- | --- |");
    for (const [name, r] of rows) {
      console.log(`| ${name} | ${r.tps.toFixed(0)} | ${cpu(r.cpuUs)} |`);
    }
  }
  console.log(`load average after: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
} finally {
  for (const s of running) await s.gw.stop().catch(() => s.gw.dispose());
  await store.stop();
  await upstream.close();
  await Deno.remove(dir, { recursive: true });
}
