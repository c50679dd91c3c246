/**
 * The shared store's cost on the request path (issue 24): HTTPS GETs through one gateway on the
 * embedded default (SQLite and files), through one gateway on a shared PostgreSQL, and through
 * two gateways on that PostgreSQL at once. Prints requests/s and each gateway's CPU per request
 * (from /proc/<pid>/stat). With the store, agents are checked against an in-memory snapshot and
 * receipts stay in each gateway's SQLite, so the per-request cost should not move; this shows it.
 *
 * ```sh
 * deno run -A bench/store_bench.ts [--requests=3000] [--connections=4]
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

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    connections: { type: "string", default: "4" },
  },
});
const REQUESTS = Number(values.requests);
const CONNECTIONS = Number(values.connections);
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
  const local = await sharedGatewayDir(join(dir, "local"), store, { upstream });
  // The embedded default: the same config without the store.
  await Deno.writeTextFile(
    local,
    (await Deno.readTextFile(local)).replace(/^\s*store\s*=.*$/m, ""),
  );
  const shared = await Promise.all(
    ["s1", "s2"].map((n) => sharedGatewayDir(join(dir, n), store, { upstream })),
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
  const rows: [string, { rps: number; cpuUs: number[] }][] = [
    ["one gateway, embedded (SQLite)", await measure([l])],
    ["one gateway, shared store", await measure([s1])],
    ["two gateways, shared store", await measure([s1, s2])],
  ];
  console.log(`${REQUESTS} HTTPS GETs per gateway over ${CONNECTIONS} keep-alive tunnels each`);
  console.log("| setup | requests/s (all gateways) | gateway CPU µs per request |");
  console.log("| --- | --- | --- |");
  for (const [name, r] of rows) {
    console.log(
      `| ${name} | ${r.rps.toFixed(0)} | ${r.cpuUs.map((c) => c.toFixed(0)).join(" / ")} |`,
    );
  }
} finally {
  for (const s of running) await s.gw.stop().catch(() => s.gw.dispose());
  await store.stop();
  await upstream.close();
  await Deno.remove(dir, { recursive: true });
}
