/**
 * Agents on another host, over WireGuard: the tunnel's own cost apart from the gateway's, in one
 * run, for HTTPS keep-alive GETs and `pgbench -S`.
 *
 *     deno run -A bench/tunnel.ts [--quick] [--seconds=4] [--rounds=3] [--connections=8]
 *
 * Three paths from the agent host (a network namespace with `wireguard-go`, enrolled with
 * `agent add --wireguard`) to the same HTTPS upstream and PostgreSQL cluster on this host:
 * - **underlay**: straight over the host's own link, no tunnel, no gateway (the floor);
 * - **tunnel**: through the WireGuard tunnel to the upstream's own port (the tunnel's cost);
 * - **tunnel + gateway**: by name through the tunnel to the gateway, which decides every request
 *   and statement and writes a receipt for each, then dials the upstream.
 * Rounds interleave the paths so the shared machine's noise spreads over all three. Needs root,
 * `wireguard-go`, `wg`, `nft` and PostgreSQL; says so and exits 0 otherwise.
 *
 * @module
 */

import { isolationAvailable } from "../tests/_isolate_fixture.ts";
import { startTunnelWorld, type TunnelWorld } from "./_tunnel_setup.ts";
import { BENCH_DB, BENCH_USER } from "./_pg_setup.ts";

const PATHS = ["underlay", "tunnel", "tunnel + gateway"] as const;
type PathName = typeof PATHS[number];

interface Options {
  seconds: number;
  rounds: number;
  connections: number;
}

function options(args: string[]): Options {
  const quick = args.includes("--quick");
  const value = (name: string, fallback: number) => {
    const arg = args.find((a) => a.startsWith(`--${name}=`));
    return arg ? Number(arg.slice(name.length + 3)) : fallback;
  };
  return {
    seconds: value("seconds", quick ? 1 : 4),
    rounds: value("rounds", quick ? 1 : 3),
    connections: value("connections", 8),
  };
}

function toolsPresent(): boolean {
  if (!isolationAvailable()) return false;
  return ["wg", "wireguard-go", "pgbench"].every((tool) =>
    new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" }).outputSync()
      .success
  );
}

/** Runs a program inside the agent host; its stdout. */
async function inside(world: TunnelWorld, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", world.host.ns, ...args],
    env,
    stdin: "null",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) throw new Error(`${args[0]} failed: ${text(out.stderr)}`);
  return text(out.stdout);
}

/** Keep-alive GETs per second on one path. */
async function https(world: TunnelWorld, path: PathName, o: Options): Promise<number> {
  const url = path === "underlay"
    ? `https://${world.underlayAddress}:${world.upstreamPort}/`
    : path === "tunnel"
    ? `https://${world.tunnelAddress}:${world.upstreamPort}/`
    : "https://api.example.test/";
  const ca = path === "tunnel + gateway" ? world.gatewayCa : world.upstreamCa;
  const client = new URL("./_tunnel_client.ts", import.meta.url).pathname;
  const out = await inside(world, [
    Deno.execPath(),
    ...["run", "-A", "--no-config", client, url, "api.example.test", ca],
    ...[String(o.seconds), String(o.connections)],
  ]);
  const result = JSON.parse(out.trim().split("\n").at(-1)!);
  return result.requests / result.seconds;
}

/** `pgbench -S` transactions per second on one path. */
async function pgbench(world: TunnelWorld, path: PathName, o: Options): Promise<number> {
  const [host, port] = path === "underlay"
    ? [world.underlayAddress, world.pgPort]
    : path === "tunnel"
    ? [world.tunnelAddress, world.pgPort]
    : ["db.example.test", 5432];
  const args = ["pgbench", "-S", "-n", "-c", String(o.connections), "-j", "2"];
  args.push("-T", String(o.seconds), "-h", host, "-p", String(port), "-U", BENCH_USER, BENCH_DB);
  // Through the gateway the tunnel address names the agent: no password at all.
  const env: Record<string, string> = { PGSSLMODE: "disable" };
  if (path !== "tunnel + gateway") env.PGPASSWORD = world.pgPassword;
  const out = await inside(world, args, env);
  const tps = out.match(/tps = ([\d.]+)/);
  if (!tps) throw new Error(`pgbench printed no tps:\n${out}`);
  return Number(tps[1]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  if (!toolsPresent()) {
    console.log("tunnel bench skipped: needs root, ip, nft, unshare, wg, wireguard-go, pgbench");
    return;
  }
  const o = options(Deno.args);
  const world = await startTunnelWorld(1);
  const results: Record<string, Record<PathName, number[]>> = {
    "HTTPS keep-alive GET (req/s)": { underlay: [], tunnel: [], "tunnel + gateway": [] },
    "pgbench -S (tps)": { underlay: [], tunnel: [], "tunnel + gateway": [] },
  };
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const path of PATHS) {
        results["HTTPS keep-alive GET (req/s)"][path].push(await https(world, path, o));
        results["pgbench -S (tps)"][path].push(await pgbench(world, path, o));
      }
    }
  } finally {
    await world.close();
  }
  console.log(
    `\ntunnel bench: ${o.rounds} round(s) of ${o.seconds} s, ${o.connections} connections, median`,
  );
  console.log(
    "workload                        underlay     tunnel  tunnel+gw  tunnel/underlay  gw/tunnel",
  );
  for (const [name, paths] of Object.entries(results)) {
    const [u, t, g] = PATHS.map((p) => median(paths[p]));
    console.log(
      `${name.padEnd(30)} ${u.toFixed(0).padStart(9)} ${t.toFixed(0).padStart(10)} ${
        g.toFixed(0).padStart(10)
      } ${(t / u).toFixed(2).padStart(16)} ${(g / t).toFixed(2).padStart(10)}`,
    );
  }
}

await main();
