/**
 * Shared pieces of the receipt durability tests (receipts_crash_test.ts, receipts_faults_test.ts):
 * an HTTPS upstream that logs every request it receives in the test process (so its log
 * survives the gateway's death), a gateway directory served by `clawpatrol serve` as a real
 * subprocess that can be SIGKILLed, clients through its proxy, and reading which markers have a
 * receipt straight from `receipts.db`.
 *
 * Every action the load sends carries a unique marker `<kind>-<round>-<n>`: `m` INSERT, `u`
 * UPDATE, `r` SELECT (Postgres), `p` POST, `g` GET (HTTP). The upstreams' logs are the ground
 * truth of what was executed; a marker found in a receipt's facts means the action is recorded.
 *
 * @module
 */

import "reflect-metadata";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { createState } from "../src/gateway/mod.ts";
import { cli, type CliResult, eventually, Running, withTimeout } from "./_helpers.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

/** One marker; `g` flag for matchAll over log lines and facts. */
export const MARKER = /\b[murpg]-\d+-\d+\b/g;
/** Marker kinds that change state: their receipt must be durable before they are forwarded. */
export const WRITE_KINDS: ReadonlySet<string> = new Set(["m", "u", "p"]);
/** The agent-facing reason while the receipt store cannot commit (the contract under test). */
export const CANNOT_RECORD = "the gateway cannot record decisions right now";

/** A marker's round (the number after the kind). */
export function roundOf(marker: string): number {
  return Number(marker.split("-")[1]);
}

/** A request as the HTTPS upstream received it. */
export interface Seen {
  method: string;
  path: string;
  /** Arrival, Date.now() in the test process. */
  at: number;
}

/** The logging HTTPS upstream (certificate for `api.test` from its own CA). */
export interface Upstream {
  port: number;
  caPem: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** Starts the upstream on a free loopback port; it answers every request 200. */
export async function startUpstream(): Promise<Upstream> {
  const ca = await mintTestCa("clawpatrol crash-test upstream CA");
  const leaf = await mintTestCertificate(ca, { hosts: ["api.test"] });
  const seen: Seen[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen() {},
  }, async (req) => {
    // Logged on arrival, before the body: the request reached the upstream, so it executed.
    seen.push({ method: req.method, path: new URL(req.url).pathname, at: Date.now() });
    await req.body?.cancel();
    return new Response("ok\n");
  });
  return { port: server.addr.port, caPem: ca.certPem, seen, close: () => server.shutdown() };
}

/** A Postgres upstream the gateway fronts as endpoint `db`. */
export interface PgTarget {
  port: number;
  user: string;
  password: string;
}

/** What {@linkcode prepareGateway} made. */
export interface GatewayDir {
  config: string;
  stateDir: string;
  /** The enrolled agent `bot`'s token. */
  token: string;
  /** The gateway CA (PEM), for clients of the proxy. */
  caPem: string;
}

/**
 * Writes `dir/gateway.hcl` (state in `stateDir`, default `dir/state`; listeners on port 0;
 * endpoint `https.api` → the upstream, and `postgres.db` → `pg` when given; everything allowed),
 * creates the state, stores the Postgres password in the vault and enrols agent `bot` with
 * `clawpatrol agent add`.
 */
export async function prepareGateway(options: {
  dir: string;
  upstream: Upstream;
  pg?: PgTarget;
  stateDir?: string;
  /** `gateway.limits.receipt_commit_interval`, e.g. `"50ms"`. */
  commitInterval: string;
}): Promise<GatewayDir> {
  const { dir, upstream, pg } = options;
  const stateDir = options.stateDir ?? join(dir, "state");
  await Deno.writeTextFile(join(dir, "upstream-ca.pem"), upstream.caPem);
  const pgBlocks = pg
    ? `endpoint "postgres" "db" {
  host    = "127.0.0.1:${pg.port}"
  listen  = "127.0.0.1:0"
  sslmode = "disable"
}
credential "postgres_credential" "db_rw" {
  endpoint = postgres.db
  user     = "${pg.user}"
}
rule "db-all" {
  endpoint  = postgres.db
  condition = "true"
  verdict   = "allow"
}
`
    : "";
  const config = join(dir, "gateway.hcl");
  await Deno.writeTextFile(
    config,
    `schema_version = 1
gateway {
  state_dir    = "${stateDir}"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  limits {
    receipt_commit_interval = "${options.commitInterval}"
  }
}
defaults {
  unknown_host = "deny"
}
endpoint "https" "api" {
  hosts    = ["api.test"]
  upstream = "127.0.0.1:${upstream.port}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
rule "api-all" {
  endpoint  = https.api
  condition = "true"
  verdict   = "allow"
}
${pgBlocks}profile "bots" {
  endpoints   = [https.api${pg ? ", postgres.db" : ""}]
  credentials = [${pg ? "postgres_credential.db_rw" : ""}]
}
`,
  );
  await createState(stateDir, false);
  if (pg) {
    const vault = await openVault(stateDir);
    try {
      await vault.set("db_rw", DEFAULT_SLOT, pg.password);
    } finally {
      vault.close();
    }
  }
  const added = await cli(["agent", "add", "bot", "--profile", "bots", "-c", config]);
  if (added.code !== 0) throw new Error(`agent add failed: ${added.stderr}`);
  const token = added.stdout.trim().split("\n").at(-1)!;
  const caPem = await Deno.readTextFile(join(stateDir, "ca.pem"));
  return { config, stateDir, token, caPem };
}

/** A running `clawpatrol serve` and where it listens (ports are new on every start). */
export interface Served {
  gw: Running;
  admin: string;
  proxyPort: number;
  /** Endpoint `db`'s listener, when the config has one. */
  pgPort?: number;
}

/** Spawns `clawpatrol serve -c config` and resolves once its admin `/healthz` answers 200. */
export async function serve(config: string): Promise<Served> {
  const gw = Running.spawn(["serve", "-c", config]);
  try {
    const line = (await gw.waitFor(/serving: .*/, 30_000))[0];
    const admin = line.match(/admin on (http:\/\/[\d.]+:\d+)/)![1];
    const proxyPort = Number(line.match(/proxy on http:\/\/[\d.]+:(\d+)/)![1]);
    const pg = line.match(/postgres db on [\d.]+:(\d+)/);
    await eventually("the gateway's /healthz to answer 200", async () => {
      const res = await fetch(`${admin}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.status === 200 ? true : undefined;
    }, 15_000);
    return { gw, admin, proxyPort, pgPort: pg ? Number(pg[1]) : undefined };
  } catch (err) {
    await gw.dispose();
    throw err;
  }
}

/** An HTTP client whose requests go through the gateway's proxy as agent `bot`. */
export function proxyClient(served: Served, dir: GatewayDir): Deno.HttpClient {
  return Deno.createHttpClient({
    proxy: {
      url: `http://127.0.0.1:${served.proxyPort}`,
      basicAuth: { username: "bot", password: dir.token },
    },
    caCerts: [dir.caPem],
  });
}

/** One request through the proxy, body read whole; rejects on a transport failure. */
export async function send(
  client: Deno.HttpClient,
  method: "GET" | "POST",
  path: string,
): Promise<{ status: number; body: string }> {
  const res = await fetch(`https://api.test${path}`, {
    method,
    body: method === "POST" ? "x" : undefined,
    client,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.text() };
}

/** `/healthz`: status code and JSON body. */
export async function health(
  served: Served,
): Promise<{ status: number; body: { status?: string; problems?: { component?: string }[] } }> {
  const res = await fetch(`${served.admin}/healthz`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.json() };
}

/** `clawpatrol log verify --local`: the hash chain of `config`'s own receipts (not the store's). */
export function verifyLog(config: string): Promise<CliResult> {
  return cli(["log", "verify", "--local", "-c", config], { timeoutMs: 60_000 });
}

/** Every marker that appears in some receipt's facts (read-only; safe while the gateway runs). */
export function receiptMarkers(stateDir: string): Set<string> {
  const db = new DatabaseSync(join(stateDir, "receipts.db"), { readOnly: true, timeout: 5_000 });
  try {
    const markers = new Set<string>();
    for (
      const row of db.prepare("SELECT canonical -> '$.facts' AS facts FROM receipts").iterate()
    ) {
      for (const m of String(row.facts).matchAll(MARKER)) markers.add(m[0]);
    }
    return markers;
  } finally {
    db.close();
  }
}

/** SIGKILLs the gateway (no chance to flush anything) and waits for it to be gone. */
export async function killHard(served: Served): Promise<void> {
  served.gw.kill();
  await withTimeout(served.gw.dispose(), 10_000, "the killed gateway to exit");
}
