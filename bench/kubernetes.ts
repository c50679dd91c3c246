/**
 * kubectl-shaped GETs through the gateway's Kubernetes listener, side by side with the same
 * requests straight to the API server: what deciding and forwarding costs a request.
 *
 *     deno run -A bench/kubernetes.ts [--quick] [--connections=8] [--seconds=3] [--rounds=3]
 *                                      [--single-rounds=5000] [--upstream=canned|fixture]
 *
 * Four processes on loopback, so no two share an event loop: this one (the load generator, raw
 * HTTP/1.1 from bench/_http_load.ts), an API server stand-in (canned responses of real size from
 * `_k8s_bodies.ts`, or with `--upstream=fixture` the tests' fake API server), the gateway
 * (endpoint `k8s-prod` with the API server's token as a `k8s_bearer_token` credential, the
 * shipped rules/kubernetes.hcl behind 50 filler rules, receipts in SQLite as in production) and
 * the peer, `mitmdump` as a reverse proxy in front of the same API server (`_mitm_addon.py`;
 * skipped without `mitmdump` on PATH). Direct and mitmproxy requests carry the cluster's token;
 * gateway requests the agent's clawpatrol token, which the gateway checks, drops, and replaces
 * with the credential. Target (issue 21): the gateway's CPU per request ≤ 1/10 of mitmproxy's, as
 * for the HTTPS proxy.
 *
 * Workloads (`_k8s_load.ts`): list pods, get a pod, list deployments, discovery `GET /api`, each
 * over N kept-alive connections, direct and gateway back to back in each round (the order
 * alternating), several rounds; a denied `list secrets` through the gateway; and the pod GET on
 * one connection per path, interleaved request by request, for the gateway's added p50 unloaded.
 * Checks: one receipt per request sent to the gateway, allowed and denied as sent; the upstream
 * saw every direct and allowed request with the cluster's token, none without it, no secrets.
 * Output: `_k8s_report.ts`. Exit code 1 when a check fails.
 *
 * @module
 */

import { join } from "node:path";
import { keepAlive, type Path } from "./_http_load.ts";
import { distinct, fmt } from "./_http_report.ts";
import { startMitmIfPresent } from "./_http_setup.ts";
import {
  DENIED,
  interleavedSingle,
  k8sPath,
  kubectlRequest,
  type Tally,
  type Workload,
  WORKLOADS,
} from "./_k8s_load.ts";
import { type Options, report, type Results, type Sanity } from "./_k8s_report.ts";
import {
  type GatewayChild,
  receiptCounts,
  startGateway,
  startUpstream,
  type Upstream,
} from "./_k8s_setup.ts";

function parseOptions(args: string[]): Options {
  const quick = args.includes("--quick");
  for (const a of args) {
    if (a !== "--quick" && !/^--(connections|seconds|rounds|single-rounds|upstream)=/.test(a)) {
      throw new RangeError(
        `Unknown option '${a}' (use --quick, --connections=N, --seconds=N, --rounds=N, ` +
          "--single-rounds=N, --upstream=canned|fixture)",
      );
    }
  }
  const value = (name: string, fallback: number) => {
    const arg = args.find((a) => a.startsWith(`--${name}=`));
    if (!arg) return fallback;
    const n = Number(arg.slice(name.length + 3));
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`Cannot use '${arg}': not a number`);
    return n;
  };
  const upstream = args.find((a) => a.startsWith("--upstream="))?.slice(11) ?? "canned";
  if (upstream !== "canned" && upstream !== "fixture") {
    throw new RangeError(`Cannot use '--upstream=${upstream}': expected 'canned' or 'fixture'`);
  }
  return {
    quick,
    connections: value("connections", 8),
    seconds: value("seconds", quick ? 1 : 3),
    warmMs: quick ? 300 : 500,
    jitWarmMs: quick ? 300 : 1_000,
    rounds: value("rounds", quick ? 2 : 3),
    singleRounds: value("single-rounds", quick ? 1000 : 5000),
    upstream,
  };
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

async function commit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"] }).output();
    return new TextDecoder().decode(out.stdout).trim() || "?";
  } catch {
    return "?";
  }
}

/**
 * One request per workload each way, bodies read: allowed ones answer 200 with the same body
 * direct and through the gateway, secrets answer a 403 `Status` (Forbidden), and the cluster's
 * own token is no agent token (401). Returns body bytes per workload.
 */
async function setupChecks(
  upstream: Upstream,
  gateway: GatewayChild,
): Promise<Record<string, number>> {
  const direct = Deno.createHttpClient({ caCerts: [upstream.caPem] });
  const agent = Deno.createHttpClient({ caCerts: [gateway.caPem] });
  const get = async (client: Deno.HttpClient, port: number, w: Workload, token: string) => {
    const res = await fetch(`https://127.0.0.1:${port}${w.target}`, {
      client,
      headers: { Authorization: `Bearer ${token}`, Accept: w.accept },
    });
    return { status: res.status, body: await res.text() };
  };
  try {
    const sizes: Record<string, number> = {};
    for (const w of WORKLOADS) {
      const d = await get(direct, upstream.port, w, upstream.token);
      const g = await get(agent, gateway.port, w, gateway.token);
      if (d.status !== 200 || g.status !== 200 || d.body !== g.body) {
        throw new Error(
          `Setup check '${w.target}': direct ${d.status}, gateway ${g.status}` +
            `${d.body === g.body ? "" : ", bodies differ"}: ${g.body.slice(0, 200)}`,
        );
      }
      sizes[w.key] = new TextEncoder().encode(d.body).length;
    }
    const denied = await get(agent, gateway.port, DENIED, gateway.token);
    const status = denied.status === 403 ? JSON.parse(denied.body) : {};
    if (status.kind !== "Status" || status.reason !== "Forbidden") {
      throw new Error(`Setup check: secrets answered ${denied.status}: ${denied.body}`);
    }
    const stranger = await get(agent, gateway.port, WORKLOADS[1], upstream.token);
    if (stranger.status !== 401) {
      throw new Error(`Setup check: a non-agent token answered ${stranger.status}`);
    }
    return sizes;
  } finally {
    direct.close();
    agent.close();
  }
}

async function run(options: Options, command: string): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_k8s_bench_" });
  const children: { stop(): Promise<void> }[] = [];
  const began = performance.now();
  const say = (line: string) =>
    console.log(`[${((performance.now() - began) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const loadBefore = loadAverage();
  try {
    const upstream = await startUpstream(options.upstream);
    children.push(upstream.child);
    const gateway = await startGateway(dir, upstream);
    children.push(gateway.child);
    const { mitm, status: mitmStatus } = await startMitmIfPresent(dir, {
      reverseTo: `https://127.0.0.1:${upstream.port}`,
      upstreamCaFile: join(dir, "apiserver-ca.pem"),
    });
    if (mitm) children.push(mitm);
    say(`started: ${options.upstream} upstream, gateway${mitm ? ", mitmdump (reverse)" : ""}`);
    const sizes = await setupChecks(upstream, gateway);

    const pids = { client: Deno.pid, upstream: upstream.child.ready.pid as number };
    const gatewayPids = { ...pids, gateway: gateway.child.ready.pid as number };
    const tallies = (): Tally => ({ sent: 0, responses: 0, chunked: 0 });
    const directTally = tallies(), allowedTally = tallies(), deniedTally = tallies();
    const mitmTally = tallies();
    const direct = k8sPath({
      name: "direct",
      port: upstream.port,
      caPem: upstream.caPem,
      pids,
      tally: directTally,
    });
    const viaGateway = k8sPath({
      name: "gateway",
      port: gateway.port,
      caPem: gateway.caPem,
      pids: gatewayPids,
      tally: allowedTally,
    });
    const deniedPath = k8sPath({
      name: "gateway",
      port: gateway.port,
      caPem: gateway.caPem,
      pids: gatewayPids,
      tally: deniedTally,
      ok: 403,
    });
    const viaMitm = mitm &&
      k8sPath({
        name: "mitmproxy",
        port: mitm.port,
        caPem: mitm.caPem,
        pids: { ...pids, mitmproxy: mitm.process.pid },
        tally: mitmTally,
      });
    const requests = (w: Workload): [Path, Uint8Array][] => [
      [direct, kubectlRequest(w, upstream.port, upstream.token)],
      [viaGateway, kubectlRequest(w, gateway.port, gateway.token)],
      ...(viaMitm
        ? [[viaMitm, kubectlRequest(w, mitm!.port, upstream.token)] as [Path, Uint8Array]]
        : []),
    ];

    const timing = { warmMs: options.warmMs, runMs: options.seconds * 1000 };
    const n = options.connections;
    const loaded: Results["loaded"] = Object.fromEntries(
      WORKLOADS.map((w) => [w.key, { direct: [], gateway: [], mitmproxy: [] }]),
    );
    const deniedCells: Results["deniedCells"] = [];
    // Unmeasured: every path and request once, so the first measured cell is not the gateway's
    // JIT warming up (the per-cell warm-up only covers new connections and queues filling).
    const jit = { warmMs: 0, runMs: options.jitWarmMs };
    for (const w of WORKLOADS) {
      for (const [path, request] of requests(w)) {
        await keepAlive(path, request, n, jit);
      }
    }
    await keepAlive(deniedPath, kubectlRequest(DENIED, gateway.port, gateway.token), n, jit);
    say("warm-up done (not measured)");
    for (let round = 1; round <= options.rounds; round++) {
      for (const w of WORKLOADS) {
        const pair = requests(w);
        for (const [path, request] of round % 2 ? pair : pair.toReversed()) {
          const cell = await keepAlive(path, request, n, timing);
          loaded[w.key][path.name as "direct" | "gateway" | "mitmproxy"].push(cell);
          say(
            `round ${round}/${options.rounds} ${w.key.padEnd(11)} ${path.name.padEnd(9)} ` +
              `${fmt(cell.rate).padStart(7)}/s  p50 ${fmt(cell.p50Ms, 2)} ms  p99 ${
                fmt(cell.p99Ms, 2)
              } ms${cell.errors ? `  errors ${cell.errors}: ${cell.firstError}` : ""}`,
          );
        }
      }
      const cell = await keepAlive(
        deniedPath,
        kubectlRequest(DENIED, gateway.port, gateway.token),
        n,
        timing,
      );
      deniedCells.push(cell);
      say(
        `round ${round}/${options.rounds} ${"denied".padEnd(11)} gateway ${
          fmt(cell.rate).padStart(7)
        }/s  p50 ${fmt(cell.p50Ms, 2)} ms  p99 ${fmt(cell.p99Ms, 2)} ms${
          cell.errors ? `  errors ${cell.errors}: ${cell.firstError}` : ""
        }`,
      );
    }

    const [directGet, gatewayGet] = requests(WORKLOADS[1]);
    const unloaded = await interleavedSingle({ direct: directGet, gateway: gatewayGet }, {
      rounds: options.singleRounds,
      warmRounds: Math.ceil(options.singleRounds / 10),
    });
    say(
      `unloaded, 1 conn, ${unloaded.rounds} rounds: p50 direct ${fmt(unloaded.direct.p50Us)} µs, ` +
        `gateway ${fmt(unloaded.gateway.p50Us)} µs, added ${fmt(unloaded.addedUs)} µs`,
    );

    const upstreamCounts = await upstream.counts();
    // Stopping the gateway commits every receipt; then its store can be read from here.
    await gateway.child.stop();
    children.splice(children.indexOf(gateway.child), 1);
    const sanity: Sanity = {
      directSent: directTally.sent + WORKLOADS.length,
      allowedSent: allowedTally.sent + WORKLOADS.length,
      deniedSent: deniedTally.sent + 2,
      mitmSent: mitmTally.sent,
      setupAllowed: WORKLOADS.length,
      setupDenied: 2,
      chunked: allowedTally.chunked,
      allowedResponses: allowedTally.responses,
      receipts: receiptCounts(dir),
      upstream: upstreamCounts,
    };
    const glines = gateway.child.lines;
    const environment = [
      `commit ${await commit()}, deno ${Deno.version.deno}`,
      `${navigator.hardwareConcurrency} CPUs shared with whatever else runs, ` +
      `load average ${loadBefore} → ${loadAverage()}`,
    ].join("; ");
    return report({
      command,
      options,
      environment,
      sizes,
      workloads: WORKLOADS,
      denied: DENIED,
      loaded,
      deniedCells,
      unloaded,
      sanity,
      mitmproxy: mitmStatus,
      gatewayLog: {
        errors: glines.filter((l) => l.startsWith("error ")).length,
        warnings: glines.filter((l) => l.startsWith("warn ")).length,
        samples: distinct(glines, 8),
      },
      elapsedS: (performance.now() - began) / 1000,
    });
  } finally {
    for (const child of children.reverse()) await child.stop();
    Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const command = ["deno run -A bench/kubernetes.ts", ...Deno.args].join(" ");
  const ok = await run(parseOptions(Deno.args), command);
  if (!ok) Deno.exit(1);
}
