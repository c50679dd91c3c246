/**
 * The Kubernetes bench's client side: kubectl-shaped GETs, the two ways to the API server
 * (direct with the cluster's token, or through the gateway's listener with the agent's token),
 * and the unloaded single-connection comparison. The load loop, the wire and the percentiles are
 * bench/_http_load.ts's, so the client costs the same here as in the HTTP bench.
 *
 * @module
 */

import { type Path, Wire } from "./_http_load.ts";
import { pairedMedianDiffCi } from "./_http_inject.ts";

const enc = new TextEncoder();

/** One kubectl request the bench replays. */
export interface Workload {
  key: string;
  /** What kubectl command sends it. */
  label: string;
  /** Request target, query included (`kubectl get` lists with `?limit=500`). */
  target: string;
  accept: string;
}

// What kubectl 1.32 sends for `get -o json` (no Table), and first for discovery.
const JSON_ACCEPT = "application/json";
const DISCOVERY_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList," +
  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/** The allowed requests, each measured direct and through the gateway. */
export const WORKLOADS: Workload[] = [
  {
    key: "list",
    label: "kubectl get pods -o json",
    target: "/api/v1/namespaces/default/pods?limit=500",
    accept: JSON_ACCEPT,
  },
  {
    key: "get",
    label: "kubectl get pod web-1 -o json",
    target: "/api/v1/namespaces/default/pods/web-1",
    accept: JSON_ACCEPT,
  },
  {
    key: "deployments",
    label: "kubectl get deployments -o json",
    target: "/apis/apps/v1/namespaces/default/deployments?limit=500",
    accept: JSON_ACCEPT,
  },
  { key: "discovery", label: "discovery: GET /api", target: "/api", accept: DISCOVERY_ACCEPT },
];

/** The denied request (rule `k8s-no-secrets`), measured through the gateway only. */
export const DENIED: Workload = {
  key: "secrets",
  label: "kubectl get secrets -o json",
  target: "/api/v1/namespaces/default/secrets?limit=500",
  accept: JSON_ACCEPT,
};

const SESSION = crypto.randomUUID().replaceAll("-", "").slice(0, 8);

/** The request kubectl sends for `w` to `127.0.0.1:port` with bearer `token`. */
export function kubectlRequest(w: Workload, port: number, token: string): Uint8Array {
  const command = w.key === "discovery" ? "" : "Kubernetes-Kubectl-Command: kubectl get\r\n" +
    `Kubernetes-Kubectl-Session: ${SESSION}\r\n`;
  return enc.encode(
    `GET ${w.target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      "User-Agent: kubectl/v1.32.3 (linux/amd64) kubernetes/32cc146\r\n" +
      `Accept: ${w.accept}\r\nAuthorization: Bearer ${token}\r\n${command}` +
      "Accept-Encoding: gzip\r\n\r\n",
  );
}

/** Requests a path's wires sent and responses they read (warm-up included). */
export interface Tally {
  sent: number;
  responses: number;
  /** Responses that came chunked (the gateway re-chunks scrubbed bodies not read whole). */
  chunked: number;
}

/** Options for {@linkcode k8sPath}. */
export interface K8sPathOptions {
  name: "direct" | "gateway" | "mitmproxy";
  port: number;
  /** The only CA the client trusts: the API server's (direct), the gateway's or mitmproxy's. */
  caPem: string;
  /**
   * Processes whose CPU time a measurement reads (`client`, `upstream`, and the proxy's:
   * `gateway` or `mitmproxy`).
   */
  pids: Record<string, number>;
  tally: Tally;
  /**
   * The status that counts as success. bench/_http_load.ts's `keepAlive` takes 200 as success,
   * so a wire expecting 403 reports that as 200 and anything else as a failure.
   * @default {200}
   */
  ok?: number;
}

/** Counts what goes through it; maps the expected status to 200 for the shared load loop. */
class TallyWire extends Wire {
  readonly #tally: Tally;
  readonly #ok: number;

  constructor(conn: Deno.Conn, tally: Tally, ok: number) {
    super(conn);
    this.#tally = tally;
    this.#ok = ok;
  }

  override write(bytes: Uint8Array): Promise<void> {
    this.#tally.sent++;
    return super.write(bytes);
  }

  override async response(bodyless = false): Promise<number> {
    const status = await super.response(bodyless);
    this.#tally.responses++;
    if (this.lastChunked) this.#tally.chunked++;
    if (status === this.#ok) return 200;
    if (status === 200) throw new Error(`Status 200 where ${this.#ok} was expected`);
    return status;
  }
}

/** TLS to `127.0.0.1:port`, verifying an IP certificate against one CA, as kubectl does. */
export function k8sPath(options: K8sPathOptions): Path {
  const { name, port, caPem, pids, tally, ok = 200 } = options;
  return {
    name,
    pids,
    async open() {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      tcp.setNoDelay(true);
      const conn = await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [caPem] });
      await conn.handshake();
      return new TallyWire(conn, tally, ok);
    },
  };
}

/** Latency of one path on one connection, µs. */
export interface Latency {
  p50Us: number;
  p99Us: number;
  count: number;
}

/** The unloaded comparison: one kept-alive connection per path, one request each per round. */
export interface Unloaded {
  rounds: number;
  direct: Latency;
  gateway: Latency;
  /** p50(gateway) − p50(direct), µs, with a 95% interval from a paired bootstrap over rounds. */
  addedUs: number;
  ci95Us: [number, number];
  errors: number;
  firstError?: string;
}

const quantile = (sorted: Float64Array, p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;

/** Options for {@linkcode interleavedSingle}. */
export interface InterleavedSingleOptions {
  rounds: number;
  /** Rounds run first and discarded. */
  warmRounds: number;
}

/**
 * One request per path per round on one kept-alive connection each, the order swapped every
 * round, so noise on this shared machine (and the gateway's receipt commits) lands on both
 * alike. A round with a failed request is dropped from both.
 */
export async function interleavedSingle(
  cases: { direct: [Path, Uint8Array]; gateway: [Path, Uint8Array] },
  options: InterleavedSingleOptions,
): Promise<Unloaded> {
  const order = [cases.direct, cases.gateway];
  const wires: (Wire | null)[] = [null, null];
  const samples: [number[], number[]] = [[], []];
  const round = [0, 0];
  let errors = 0;
  let firstError: string | undefined;
  for (let r = 0; r < options.warmRounds + options.rounds && errors < 50; r++) {
    let failed = false;
    for (const i of r % 2 ? [1, 0] : [0, 1]) {
      const [path, request] = order[i];
      try {
        const wire = wires[i] ??= await path.open();
        const t0 = performance.now();
        await wire.write(request);
        const status = await wire.response();
        round[i] = (performance.now() - t0) * 1000;
        if (status !== 200) throw new Error(`Status ${status} from ${path.name}`);
      } catch (err) {
        failed = true;
        errors++;
        firstError ??= String(err);
        wires[i]?.close();
        wires[i] = null;
      }
    }
    if (r >= options.warmRounds && !failed) round.forEach((us, i) => samples[i].push(us));
  }
  for (const wire of wires) wire?.close();
  const latency = (xs: number[]): Latency => {
    const sorted = Float64Array.from(xs).sort();
    return { p50Us: quantile(sorted, 0.5), p99Us: quantile(sorted, 0.99), count: xs.length };
  };
  const [direct, gateway] = samples.map(latency);
  return {
    rounds: samples[0].length,
    direct,
    gateway,
    addedUs: gateway.p50Us - direct.p50Us,
    ci95Us: pairedMedianDiffCi(samples[0], samples[1]),
    errors,
    ...(firstError ? { firstError } : {}),
  };
}
