/**
 * The Kubernetes bench's output: one table (each workload direct and through the gateway, the
 * unloaded single-connection row, the denied row), the receipt and upstream sanity checks, and
 * one JSON line with every number.
 *
 * @module
 */

import type { Cell } from "./_http_load.ts";
import { fmt } from "./_http_report.ts";
import type { Unloaded, Workload } from "./_k8s_load.ts";
import type { UpstreamCounts } from "./_k8s_setup.ts";

/** The run's options (see `parseOptions` in kubernetes.ts). */
export interface Options {
  quick: boolean;
  connections: number;
  seconds: number;
  warmMs: number;
  /** Unmeasured load per path and workload before the first round (V8 compiling hot paths). */
  jitWarmMs: number;
  rounds: number;
  singleRounds: number;
  upstream: "canned" | "fixture";
}

/** What the checks compare: requests sent per way, and what the gateway and upstream saw. */
export interface Sanity {
  /** Requests sent straight to the upstream (with the cluster's token). */
  directSent: number;
  /** Requests sent to the gateway that the rules allow, and that they deny. */
  allowedSent: number;
  deniedSent: number;
  /** Requests sent through mitmproxy (with the cluster's token). */
  mitmSent: number;
  /** Of those, the setup checks' (4 allowed; 1 denied by rule, 1 with a wrong token). */
  setupAllowed: number;
  setupDenied: number;
  /** Gateway responses to allowed requests that came chunked (a scrubbed body not read whole). */
  chunked: number;
  allowedResponses: number;
  /** Receipts in the stopped gateway's store, by `verdict rule` (`-` for no rule). */
  receipts: Record<string, number>;
  upstream: UpstreamCounts;
}

/** Everything a run measured. */
export interface Results {
  command: string;
  options: Options;
  environment: string;
  /** Response body bytes per workload key. */
  sizes: Record<string, number>;
  workloads: Workload[];
  denied: Workload;
  /** Per workload key, one cell per round (`mitmproxy` empty when it was not measured). */
  loaded: Record<string, { direct: Cell[]; gateway: Cell[]; mitmproxy: Cell[] }>;
  deniedCells: Cell[];
  unloaded: Unloaded;
  sanity: Sanity;
  /** `measured`, or why mitmproxy was not. */
  mitmproxy: string;
  gatewayLog: { errors: number; warnings: number; samples: string[] };
  elapsedS: number;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median over rounds of one number of a cell. */
const med = (cells: Cell[], pick: (c: Cell) => number) => median(cells.map(pick));

function table(r: Results): string {
  const n = r.options.connections;
  const lines = [
    "| workload | body bytes | direct req/s | gateway req/s | gateway / direct | " +
    "direct p50 / p99 ms | gateway p50 / p99 ms | added p50 ms | gateway CPU µs/req | " +
    "mitmproxy req/s | mitmproxy CPU µs/req |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const latency = (cells: Cell[]) =>
    `${fmt(med(cells, (c) => c.p50Ms), 2)} / ${fmt(med(cells, (c) => c.p99Ms), 2)}`;
  const cpu = (cells: Cell[], proxy = "gateway") => fmt(med(cells, (c) => c.cpuUs[proxy] ?? NaN));
  for (const w of r.workloads) {
    const { direct, gateway, mitmproxy } = r.loaded[w.key];
    const ratios = direct.map((d, i) => gateway[i].rate / d.rate);
    const spread = ratios.length > 1
      ? ` (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})`
      : "";
    const added = med(gateway, (c) => c.p50Ms) - med(direct, (c) => c.p50Ms);
    lines.push(
      `| ${w.label}, ${n} conns | ${fmt(r.sizes[w.key])} | ${fmt(med(direct, (c) => c.rate))} | ${
        fmt(med(gateway, (c) => c.rate))
      } | ${fmt(median(ratios), 2)}${spread} | ${latency(direct)} | ${latency(gateway)} | ${
        fmt(added, 2)
      } | ${cpu(gateway)} | ${mitmproxy.length ? fmt(med(mitmproxy, (c) => c.rate)) : "–"} | ${
        mitmproxy.length ? cpu(mitmproxy, "mitmproxy") : "–"
      } |`,
    );
  }
  const u = r.unloaded;
  const ms = (us: number) => fmt(us / 1000, 3);
  lines.push(
    `| ${r.workloads[1].label}, 1 conn, unloaded (${fmt(u.rounds)} interleaved rounds) | ${
      fmt(r.sizes[r.workloads[1].key])
    } | – | – | – | ${ms(u.direct.p50Us)} / ${ms(u.direct.p99Us)} | ${ms(u.gateway.p50Us)} / ${
      ms(u.gateway.p99Us)
    } | **${ms(u.addedUs)}** (95% CI ${ms(u.ci95Us[0])}–${ms(u.ci95Us[1])}) | – | – | – |`,
  );
  const d = r.deniedCells;
  lines.push(
    `| denied: ${r.denied.label} (403 Status), ${n} conns | – | – | ${
      fmt(med(d, (c) => c.rate))
    } | – | – | ${latency(d)} | – | ${cpu(d)} | – | – |`,
  );
  return lines.join("\n");
}

/** Lines saying whether the run measured what it says; `ok` is false when one fails. */
function checks(r: Results): { lines: string[]; ok: boolean } {
  const s = r.sanity;
  const lines: string[] = [];
  let ok = true;
  const check = (pass: boolean, line: string) => {
    ok &&= pass;
    lines.push(`${pass ? "ok  " : "FAIL"} ${line}`);
  };
  const gatewaySent = s.allowedSent + s.deniedSent;
  const written = Object.values(s.receipts).reduce((a, b) => a + b, 0);
  const verdicts = Object.entries(s.receipts).map(([v, k]) => `${fmt(k)} ${v}`).join(", ");
  // Every allowed request by the pack's read rule, every denied one by its secrets rule but the
  // setup check with a wrong token (no agent, so no rule): a filler that matched shows up here.
  check(
    written === gatewaySent && s.receipts["allow k8s-reads"] === s.allowedSent &&
      s.receipts["deny k8s-no-secrets"] === s.deniedSent - 1 && s.receipts["deny -"] === 1,
    `receipts: ${fmt(written)} written (${verdicts}) for ${fmt(gatewaySent)} requests sent ` +
      `through the gateway (${fmt(s.allowedSent)} allowed, ${fmt(s.deniedSent)} denied; ` +
      `warm-up and ${s.setupAllowed + s.setupDenied} setup checks included)`,
  );
  const expected = s.directSent + s.allowedSent + s.mitmSent;
  check(
    s.upstream.authorized === expected && s.upstream.unauthorized === 0 &&
      s.upstream.secrets === 0,
    `upstream: ${fmt(s.upstream.authorized)} requests with the cluster's token for ` +
      `${fmt(expected)} sent to it (${fmt(s.directSent)} direct + ${fmt(s.allowedSent)} ` +
      `allowed through the gateway + ${fmt(s.mitmSent)} through mitmproxy), ` +
      `${s.upstream.unauthorized} without it, ${s.upstream.secrets} for secrets`,
  );
  const errors = [
    ...Object.values(r.loaded).flatMap((x) => [...x.direct, ...x.gateway, ...x.mitmproxy]),
    ...r.deniedCells,
  ];
  const failed = errors.filter((c) => c.errors > 0);
  check(
    failed.length === 0 && r.unloaded.errors === 0,
    `request errors: ${failed.reduce((a, c) => a + c.errors, 0) + r.unloaded.errors}${
      failed[0]?.firstError ? ` (first: ${failed[0].firstError})` : ""
    }${r.unloaded.firstError ? ` (unloaded: ${r.unloaded.firstError})` : ""}`,
  );
  lines.push(
    `info gateway responses to allowed requests re-chunked (scrubbed, since the endpoint holds ` +
      `a credential, and not read whole with the head): ${fmt(s.chunked)} of ${
        fmt(s.allowedResponses)
      }`,
  );
  return { lines, ok };
}

/**
 * The issue's target, one line per allowed workload: the gateway's CPU per request at most a
 * tenth of mitmproxy's (both medians over rounds), as for the HTTPS proxy.
 */
function targets(r: Results): string[] {
  if (r.mitmproxy !== "measured") return [`info mitmproxy ${r.mitmproxy}: no target lines`];
  return r.workloads.map((w) => {
    const { gateway, mitmproxy } = r.loaded[w.key];
    const ours = med(gateway, (c) => c.cpuUs.gateway ?? NaN);
    const peer = med(mitmproxy, (c) => c.cpuUs.mitmproxy ?? NaN);
    const pass = ours * 10 <= peer;
    return `${pass ? "PASS" : "MISS"} ${w.label}: gateway CPU ${fmt(ours)} µs/req, 1/${
      fmt(peer / ours, 1)
    } of mitmproxy's ${fmt(peer)} (≤ 1/10)`;
  });
}

/** Prints the table, the checks and the JSON line; returns whether every check passed. */
export function report(r: Results): boolean {
  const o = r.options;
  console.log(
    `\n${r.command}\n${r.environment}\n` +
      `${o.rounds} interleaved rounds × ${o.seconds} s per cell (after ${o.warmMs} ms warm-up; ` +
      `${o.jitWarmMs} ms per path and workload unmeasured first), ` +
      `${o.connections} keep-alive connections; upstream: ${o.upstream}; ` +
      `medians over rounds (ratio: median of per-round ratios, min–max); ` +
      `took ${fmt(r.elapsedS, 0)} s\n`,
  );
  console.log(table(r) + "\n");
  const { lines, ok } = checks(r);
  for (const line of lines) console.log(line);
  for (const line of targets(r)) console.log(line);
  const g = r.gatewayLog;
  console.log(`info gateway log: ${g.errors} error and ${g.warnings} warn lines`);
  for (const line of g.samples) console.log(`       ${line}`);
  console.log(JSON.stringify({ bench: "kubernetes", ...r }));
  return ok;
}
