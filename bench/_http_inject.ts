/**
 * What credential injection adds to a request, two ways:
 *
 * - end to end, one kept-alive connection per case, rounds interleaved (one request per case per
 *   round, the gateway cases rotating places) so machine noise lands on every case alike:
 *   (a) no placeholder to endpoint `api`, which has no credentials; (s) no placeholder to
 *   endpoint `keyed`, whose responses are scrubbed because the credential is bound there (its
 *   upstream echoes the secret, the agent gets the placeholder), and where the agent's own
 *   `Authorization` is dropped since the credential owns that header; (b) `Bearer
 *   {{bench_token}}` to `keyed`: injection and scrubbing; (c) direct. All four send the same
 *   bytes but for the host and the bearer value (of equal length).
 *   (b) − (a) is what a credential costs a request, (b) − (s) what injection adds to scrubbing;
 * - in process, the gateway's credentials hook (`HttpCredentials.use` + `apply`) on the same
 *   request, timed in batches, which isolates header injection from scrubbing and from I/O.
 *
 * @module
 */

import { join } from "node:path";
import { loadConfig } from "../src/config/mod.ts";
import { openVault } from "../src/credentials/mod.ts";
import type { LogLevel } from "../src/gateway/mod.ts";
import { HttpCredentials } from "../src/gateway/_http_credentials.ts";
import { SecretCache } from "../src/gateway/_secrets.ts";
import type { HttpRequestParts } from "../src/protocols/http/mod.ts";
import { ROOT } from "./_child.ts";
import { CREDENTIAL, HOST, KEYED_HOST, SECRET } from "./_http_setup.ts";
import { getRequest, MAX_ERRORS, type Path, type Wire } from "./_http_load.ts";
import { PROTOCOLS } from "../src/protocols/registry.ts";

const enc = new TextEncoder();

/** The placeholder the agent sends. */
export const PLACEHOLDER = `{{${CREDENTIAL}}}`;
/** The agent's own bearer value on (a) and (s): as long as PLACEHOLDER (equal-size requests). */
const OWN_TOKEN = "agent-own-token";
/** How much shorter a scrubbed body is: the secret replaced by its placeholder. */
const SHRINK = SECRET.length - PLACEHOLDER.length;

/** Latency of one case, µs. */
export interface Latency {
  p50Us: number;
  p99Us: number;
  count: number;
  errors: number;
  firstError?: string;
}

/** A difference of p50s, µs, with its 95% interval from a paired bootstrap over rounds. */
export interface Added {
  p50Us: number;
  ci95Us: [number, number];
}

/** The end-to-end measurement. */
export interface InjectionLatency {
  /** Rounds kept (a round with any failed request is dropped from every case). */
  rounds: number;
  direct: Latency;
  /** (a) gateway, endpoint without credentials, no placeholder. */
  baseline: Latency;
  /** (s) gateway, the credential's endpoint, no placeholder: response scrubbing only. */
  scrubOnly: Latency;
  /** (b) gateway, bearer placeholder on the credential's endpoint: injection + scrubbing. */
  injected: Latency;
  /** (s) − (a). */
  scrubAdded: Added;
  /** (b) − (a). */
  injectedAdded: Added;
  /** (b) − (s): injection on top of scrubbing. */
  injectionAdded: Added;
  /** Whether the upstream saw the secret on every (b) request. */
  verified: boolean;
}

/** Options for {@linkcode interleavedInjection}. */
export interface InterleavedOptions {
  /** Measured rounds (each round: one request per case). */
  rounds: number;
  /** Rounds run first and discarded. */
  warmRounds: number;
  /** How many requests carrying the secret the upstream has answered so far. */
  injectedAtUpstream(): Promise<number>;
}

/** One case: a path, the request it sends, and the response framing that proves what ran. */
interface Case {
  path: Path;
  request: Uint8Array;
  /** The response echoes the secret and is scrubbed: the agent gets the placeholder. */
  scrubbed: boolean;
}

/**
 * (a), (s), (b) through the gateway (`api` and `keyed` paths) and (c) `direct`, one kept-alive
 * connection each, one request per case per round.
 */
export async function interleavedInjection(
  paths: { api: Path; keyed: Path; direct: Path },
  options: InterleavedOptions,
): Promise<InjectionLatency> {
  const bearer = (token: string): [string, string][] => [["Authorization", `Bearer ${token}`]];
  const cases: Case[] = [
    { path: paths.api, request: getRequest(HOST, bearer(OWN_TOKEN)), scrubbed: false },
    // The agent's own value in the header the credential owns is dropped, not forwarded.
    { path: paths.keyed, request: getRequest(KEYED_HOST, bearer(OWN_TOKEN)), scrubbed: true },
    { path: paths.keyed, request: getRequest(KEYED_HOST, bearer(PLACEHOLDER)), scrubbed: true },
    { path: paths.direct, request: getRequest(HOST, bearer(OWN_TOKEN)), scrubbed: false },
  ];
  // Rotations of the three gateway cases, so each runs first, second and third equally often.
  const orders = [[0, 1, 2, 3], [1, 2, 0, 3], [2, 0, 1, 3]];
  const wires: (Wire | null)[] = cases.map(() => null);
  const errors = cases.map(() => 0);
  const firstErrors: (string | undefined)[] = cases.map(() => undefined);
  const samples: number[][] = cases.map(() => []);
  const round = new Array<number>(cases.length);
  // Body lengths as the agent got them; the direct case's (index 3) is the upstream's own.
  const lengths = new Array<number | undefined>(cases.length);
  const injectedBefore = await options.injectedAtUpstream();
  let injectedOk = 0;
  const total = options.warmRounds + options.rounds;
  for (let r = 0; r < total && errors.reduce((a, b) => a + b) < MAX_ERRORS; r++) {
    let failed = false;
    for (const i of orders[r % orders.length]) {
      const c = cases[i];
      try {
        const wire = wires[i] ??= await c.path.open();
        const t0 = performance.now();
        await wire.write(c.request);
        const status = await wire.response();
        round[i] = (performance.now() - t0) * 1000;
        if (status !== 200) throw new Error(`Status ${status}`);
        // The same body length for every case, less what scrubbing takes out of keyed ones.
        lengths[i] = wire.lastLength;
        if (
          lengths[3] !== undefined && wire.lastLength !== lengths[3] - (c.scrubbed ? SHRINK : 0)
        ) {
          throw new Error(
            c.scrubbed ? "Response not scrubbed: the secret came back" : "Response length changed",
          );
        }
        if (i === 2) injectedOk++;
      } catch (err) {
        failed = true;
        errors[i]++;
        firstErrors[i] ??= String(err);
        wires[i]?.close();
        wires[i] = null;
      }
    }
    if (r >= options.warmRounds && !failed) round.forEach((us, i) => samples[i].push(us));
  }
  for (const wire of wires) wire?.close();
  const verified = (await options.injectedAtUpstream()) - injectedBefore === injectedOk;
  const latency = (i: number): Latency => {
    const sorted = Float64Array.from(samples[i]).sort();
    return {
      p50Us: quantile(sorted, 0.5),
      p99Us: quantile(sorted, 0.99),
      count: sorted.length,
      errors: errors[i],
      ...(firstErrors[i] ? { firstError: firstErrors[i] } : {}),
    };
  };
  const [baseline, scrubOnly, injected, direct] = cases.map((_, i) => latency(i));
  const added = (from: number, to: number): Added => ({
    p50Us: quantile(Float64Array.from(samples[to]).sort(), 0.5) -
      quantile(Float64Array.from(samples[from]).sort(), 0.5),
    ci95Us: pairedMedianDiffCi(samples[from], samples[to]),
  });
  return {
    rounds: samples[0].length,
    direct,
    baseline,
    scrubOnly,
    injected,
    scrubAdded: added(0, 1),
    injectedAdded: added(0, 2),
    injectionAdded: added(1, 2),
    verified,
  };
}

function quantile(sorted: Float64Array, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

/**
 * 95% interval for median(b) − median(a), resampling whole rounds (a and b of one round stay
 * together, so noise they shared stays shared).
 */
export function pairedMedianDiffCi(
  a: number[],
  b: number[],
  resamples = 400,
): [number, number] {
  const n = a.length;
  if (n === 0) return [NaN, NaN];
  const ra = new Float64Array(n), rb = new Float64Array(n);
  const diffs = new Float64Array(resamples);
  for (let k = 0; k < resamples; k++) {
    for (let i = 0; i < n; i++) {
      const j = Math.floor(Math.random() * n);
      ra[i] = a[j];
      rb[i] = b[j];
    }
    diffs[k] = quantile(rb.sort(), 0.5) - quantile(ra.sort(), 0.5);
  }
  diffs.sort();
  return [quantile(diffs, 0.025), quantile(diffs, 0.975)];
}

// ---------------------------------------------------------------------------------------------
// In process: the credentials hook alone.

/** Median cost per request of each step of the credentials hook, µs. */
export interface HookCost {
  /** Calls per case. */
  calls: number;
  /** `use()` + `apply()` for endpoint `api` (no credentials): what every request pays. */
  noCredentialUs: number;
  /** `use()` + `apply()` for endpoint `keyed`, request with the bearer placeholder. */
  injectUs: number;
  /** `injectUs − noCredentialUs`: what header injection adds. */
  injectionUs: number;
  /** `scrubber()`, `text()` on the response's header values, `push()` of the body, `end()`. */
  scrubUs: number;
}

/** Options for {@linkcode measureHook}. */
export interface MeasureHookOptions {
  /** Timed batches per case; the result is the median batch's mean. */
  batches: number;
  /**
   * Calls per batch.
   * @default {200}
   */
  perBatch?: number;
}

/**
 * Times the gateway's credentials hook on the bench's requests, with the config and vault the
 * bench gateway runs (`dir/gateway.hcl`, `dir/state`). Cases are interleaved batch by batch.
 */
export async function measureHook(dir: string, options: MeasureHookOptions): Promise<HookCost> {
  const perBatch = options.perBatch ?? 200;
  const config = await loadConfig(join(dir, "gateway.hcl"), { protocols: PROTOCOLS });
  const vault = await openVault(join(dir, "state"));
  const secrets = new SecretCache(vault);
  const problems: string[] = [];
  const log = {
    log(level: LogLevel, message: string) {
      if (level === "warn" || level === "error") problems.push(message);
    },
  };
  try {
    const credentials = new HttpCredentials(config, secrets, log);
    const agent = { name: "bot", profile: "bots" };
    // What the proxy hands the hook for the bench's GET: headers without Host, origin-form target.
    const parts = (authorization: string): HttpRequestParts => ({
      headers: [
        ["User-Agent", "clawpatrol-bench/1"],
        ["Accept", "application/json"],
        ["Authorization", authorization],
      ],
      target: "/items/42?fields=all",
      body: new Uint8Array(0),
      bodyTruncated: false,
    });
    const plain = parts(`Bearer ${OWN_TOKEN}`);
    const withPlaceholder = parts(`Bearer ${PLACEHOLDER}`);
    const check = await credentials.use(agent, "keyed", withPlaceholder);
    const sent = (await check.apply()).headers.find(([n]) => n === "Authorization")?.[1];
    if (check.refusal !== null || sent !== `Bearer ${SECRET}` || check.scrubber() === null) {
      throw new Error(
        `Credential hook did not inject: ${check.refusal ?? problems.join("; ")}`,
      );
    }
    const body = enc.encode(
      JSON.stringify({ id: 42, name: "widget", tags: ["a", "b"], ok: true }),
    );
    let sink = 0;
    const cases: (() => Promise<void>)[] = [
      async () => {
        for (let i = 0; i < perBatch; i++) {
          sink += (await (await credentials.use(agent, "api", plain)).apply()).headers.length;
        }
      },
      async () => {
        for (let i = 0; i < perBatch; i++) {
          sink += (await (await credentials.use(agent, "keyed", withPlaceholder)).apply()).headers
            .length;
        }
      },
      () => {
        for (let i = 0; i < perBatch; i++) {
          const scrubber = check.scrubber()!;
          sink += scrubber.text("application/json").length;
          sink += scrubber.push(body).length + scrubber.end().length;
        }
        return Promise.resolve();
      },
    ];
    const times: number[][] = cases.map(() => []);
    const warm = Math.max(10, Math.floor(options.batches / 10));
    for (let b = 0; b < warm + options.batches; b++) {
      // Alternate the order so a GC or a vault check does not always land on the same case.
      const order = b % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
      for (const i of order) {
        const t0 = performance.now();
        await cases[i]();
        const us = ((performance.now() - t0) * 1000) / perBatch;
        if (b >= warm) times[i].push(us);
      }
    }
    if (sink === 0) throw new Error("Nothing measured");
    const [none, inject, scrub] = times.map((t) => quantile(Float64Array.from(t).sort(), 0.5));
    return {
      calls: options.batches * perBatch,
      noCredentialUs: none,
      injectUs: inject,
      injectionUs: inject - none,
      scrubUs: scrub,
    };
  } finally {
    secrets.clear();
    vault.close();
  }
}

/**
 * {@linkcode measureHook} in a fresh process: this one, after the load phases, holds a heap of
 * their garbage and runs async file operations late (see the cleanup in http_proxy.ts).
 */
export async function measureHookInChild(
  dir: string,
  options: MeasureHookOptions,
): Promise<HookCost> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      dir,
      String(options.batches),
      String(options.perBatch ?? 200),
    ],
    cwd: ROOT,
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`Hook measurement exited with ${out.code}: ${err}`);
  }
  return JSON.parse(text.slice(text.lastIndexOf("\n") + 1));
}

if (import.meta.main) {
  const [dir, batches, perBatch] = Deno.args;
  const cost = await measureHook(dir, { batches: Number(batches), perBatch: Number(perBatch) });
  console.log(JSON.stringify(cost));
}
