/**
 * The HTTP bench's servers: a local HTTPS upstream with its own test CA, the gateway in front of
 * it, and mitmdump. The upstream and the gateway each run in a child process started from this
 * file (`deno run -A bench/_http_setup.ts upstream|gateway DIR`), so no two share an event loop.
 *
 * @module
 */

import "reflect-metadata";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { createState, Gateway, type LogLevel } from "../src/gateway/mod.ts";
import { createGatewayCa, loadGatewayCa, mintLeaf } from "../src/tls/mod.ts";
import {
  type Child,
  drainLines,
  ROOT,
  serveCommands,
  settlesWithin,
  sleep,
  spawnChild,
} from "./_child.ts";
import { authorizationOf, startResponder } from "./_responder.ts";

/** Host of endpoint `api`: no credentials. Every table row but the injection ones uses it. */
export const HOST = "api.test";
/** Host of endpoint `keyed`: credential `bench_token` is bound to it. Same length as HOST. */
export const KEYED_HOST = "key.test";
/** The credential on endpoint `keyed`, held by the agent's profile. */
export const CREDENTIAL = "bench_token";
/** Its value in the vault: shaped like a GitHub token. */
export const SECRET = "ghp_bench0123456789abcdefghijklmnopqrstu";
/** Rules on each endpoint; the two that match the bench's requests are last. */
export const RULES = 100;

const SELF = import.meta.filename!;
const enc = new TextEncoder();

/** Each rule reads facts a real policy reads; none matches the bench's requests but the last two. */
function ruleCondition(i: number): string {
  switch (i % 5) {
    case 0:
      return `http.method == 'post' && http.path.startsWith('/repos/org-${i}/')`;
    case 1:
      return `http.method in ['put', 'patch', 'delete'] && http.path.matches('^/orgs/o${i}/[a-z]+$')`;
    case 2:
      return `http.method == 'get' && http.path.startsWith('/api/v${i}/') && 'x-debug' in http.headers`;
    case 3:
      return `agent.profile == 'p${i}' && http.method == 'get'`;
    default:
      return `http.query.exists(k, k == 'token${i}') && http.host.endsWith('.h${i}.example.com')`;
  }
}

/**
 * Two endpoints on the same upstream process with the same 100 rules each, so a request to
 * `keyed` differs from one to `api` only by the credential: its injection and the scrubbing of
 * the response.
 */
function gatewayConfig(upstreamPort: number, keyedPort: number): string {
  const on = "endpoints = [https.api, https.keyed]";
  const rules: string[] = [];
  for (let i = 0; i < RULES - 2; i++) {
    rules.push(
      `rule "r${i}" {\n  ${on}\n  condition = "${ruleCondition(i)}"\n` +
        `  verdict   = "${i % 2 ? "allow" : "deny"}"\n}`,
    );
  }
  rules.push(
    `rule "item-reads" {\n  ${on}\n` +
      `  condition = "http.method == 'get' && http.path.startsWith('/items/')"\n  verdict   = "allow"\n}`,
    `rule "echo-posts" {\n  ${on}\n` +
      `  condition = "http.method == 'post' && http.path == '/echo'"\n  verdict   = "allow"\n}`,
  );
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  limits {
    # The idle-tunnel RSS step holds 1,000 tunnels of one agent: above the default cap of 256.
    max_connections_per_agent = 2000
  }
}
endpoint "https" "api" {
  hosts    = ["${HOST}"]
  upstream = "127.0.0.1:${upstreamPort}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
endpoint "https" "keyed" {
  hosts    = ["${KEYED_HOST}"]
  upstream = "127.0.0.1:${keyedPort}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
credential "bearer_token" "${CREDENTIAL}" {
  endpoint = https.keyed
}
profile "bots" {
  endpoints   = [https.api, https.keyed]
  credentials = [bearer_token.${CREDENTIAL}]
}
${rules.join("\n")}
`;
}

/**
 * Answers GET with a 52-byte JSON body and POST with the body's length, on two listeners (one
 * leaf each: `api.test`, `key.test`; `mintLeaf` names one host) sharing one process.
 */
async function serveUpstream(dir: string): Promise<void> {
  const ca = await loadGatewayCa(join(dir, "upstream-ca"));
  // key.test's item echoes the secret, which the gateway must scrub (the agent gets the
  // placeholder, so a shorter body); api.test's holds as many other characters.
  const item = (note: string) =>
    JSON.stringify({ id: 42, name: "widget", tags: ["a", "b"], ok: true, note });
  const respond = (body: string, status = "200 OK") =>
    enc.encode(
      `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
  const getResponses = {
    plain: respond(item("n".repeat(SECRET.length))),
    echo: respond(item(SECRET)),
  };
  const unauthorized = respond(JSON.stringify({ error: "bad credentials" }), "401 Unauthorized");
  // key.test answers 401 to any Authorization but the real secret, so a placeholder the gateway
  // did not replace (or an agent's own value it did not drop) fails the bench instead of being
  // timed; requests with the secret are counted (command `injected`), so one the gateway
  // forwarded without the header is caught too.
  const expected = `Bearer ${SECRET}`;
  let injected = 0;
  const listen = async (host: string, authorization?: string) => {
    const leaf = await mintLeaf(ca, host);
    const getResponse = authorization === undefined ? getResponses.plain : getResponses.echo;
    return await startResponder(leaf.certPem, leaf.keyPem, ({ head, length }) => {
      if (authorization !== undefined) {
        const sent = authorizationOf(head);
        if (sent === authorization) injected++;
        else if (sent !== undefined) return unauthorized;
      }
      return head.startsWith("POST") ? respond(JSON.stringify({ length })) : getResponse;
    });
  };
  const servers = [await listen(HOST), await listen(KEYED_HOST, expected)];
  const [port, keyedPort] = servers.map((s) => (s.address() as AddressInfo).port);
  console.log(JSON.stringify({ port, keyedPort, pid: Deno.pid }));
  await serveCommands({ injected: () => ({ injected }) });
  for (const server of servers) server.close();
}

/**
 * Writes the gateway's config and state (CA, the credential's value in the vault, enrolled agent)
 * in this process, as `init`, `vault set` and `agent add` would in theirs, so the gateway
 * process's memory is what serving alone holds. Returns the agent's token.
 */
async function prepareGateway(dir: string, upstream: Child): Promise<string> {
  const { port, keyedPort } = upstream.ready as { port: number; keyedPort: number };
  await Deno.writeTextFile(join(dir, "gateway.hcl"), gatewayConfig(port, keyedPort));
  const stateDir = join(dir, "state");
  await createState(stateDir, false);
  const vault = await openVault(stateDir);
  try {
    await vault.set(CREDENTIAL, DEFAULT_SLOT, SECRET);
  } finally {
    vault.close();
  }
  return AgentRegistry.open(stateDir).add("bot", "bots");
}

async function serveGateway(dir: string): Promise<void> {
  const config = join(dir, "gateway.hcl");
  const log = {
    log(level: LogLevel, message: string, fields?: Record<string, unknown>) {
      if (level === "debug") return;
      console.error(`${level} ${message}${fields ? " " + JSON.stringify(fields) : ""}`);
    },
  };
  // bench/stages.ts: clocks on the decision path, read with the `stages` command.
  const stagesEnv = Deno.env.get("CLAWPATROL_BENCH_STAGES");
  const stages = stagesEnv ? await import("./_stages.ts") : null;
  stages?.probeDecisionPath();
  if (stagesEnv === "wire") await stages?.probeHttpWire();
  const gateway = await Gateway.start(config, { log, version: "bench", watch: false });
  console.log(JSON.stringify({ port: gateway.proxyAddress.port, pid: Deno.pid }));
  await serveCommands(
    stages ? { stages: stages.stageReport, reset: () => (stages.resetStages(), {}) } : {},
  );
  await gateway.stop();
}

/**
 * Creates the upstream's test CA in `dir` (`upstream-ca/`, `upstream-ca.pem`); returns its PEM.
 */
export async function createUpstreamCa(dir: string): Promise<string> {
  const caDir = join(dir, "upstream-ca");
  await Deno.mkdir(caDir);
  await createGatewayCa(caDir);
  const pem = (await loadGatewayCa(caDir)).certPem;
  await Deno.writeTextFile(join(dir, "upstream-ca.pem"), pem);
  return pem;
}

/** Starts the upstream child; `ready` holds `port` (api.test), `keyedPort` (key.test), `pid`. */
export function startUpstream(dir: string): Promise<Child> {
  return spawnChild(SELF, ["upstream", dir], { fdLimit: 4096 });
}

/** The gateway child and what a client needs to use it. */
export interface GatewayChild {
  child: Child;
  /** The enrolled agent's token (agent `bot`, profile `bots`). */
  token: string;
  /** The gateway CA, for the client's trust. */
  caPem: string;
}

/** Options for {@linkcode startGateway}. */
export interface StartGatewayOptions {
  /** Open-file limit for the gateway process. */
  fdLimit: number;
  /** Extra V8 flags for the gateway process (it always gets --expose-gc). */
  v8Flags: string;
}

/** Writes config and state for the gateway in front of `upstream`, then starts it. */
export async function startGateway(
  dir: string,
  upstream: Child,
  options: StartGatewayOptions,
): Promise<GatewayChild> {
  const token = await prepareGateway(dir, upstream);
  const child = await spawnChild(SELF, ["gateway", dir], {
    fdLimit: options.fdLimit,
    v8Flags: ["--expose-gc", options.v8Flags].filter(Boolean).join(","),
  });
  const caPem = await Deno.readTextFile(join(dir, "state", "ca.pem"));
  return { child, token, caPem };
}

// ---------------------------------------------------------------------------------------------
// mitmproxy

/** A running mitmdump. */
export interface Mitm {
  process: Deno.ChildProcess;
  port: number;
  caPem: string;
  lines: string[];
  stop(): Promise<void>;
}

/** Whether `mitmdump` runs here. */
export async function hasMitmdump(): Promise<boolean> {
  try {
    const out = await new Deno.Command("mitmdump", { args: ["--version"], stdout: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** mitmdump, when it runs here; `status` is `measured`, or why there is no mitmproxy column. */
export async function startMitmIfPresent(
  dir: string,
  options: StartMitmOptions = {},
): Promise<{ mitm?: Mitm; status: string }> {
  if (!(await hasMitmdump())) return { status: "skipped: mitmdump not on PATH" };
  try {
    return { mitm: await startMitm(dir, options), status: "measured" };
  } catch (err) {
    return { status: `skipped: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Options for {@linkcode startMitm}. */
export interface StartMitmOptions {
  /**
   * Run as a reverse proxy in front of this URL (`--mode reverse:URL`), as the gateway's
   * Kubernetes listener is, instead of as a forward proxy.
   */
  reverseTo?: string;
  /**
   * The only CA mitmdump trusts upstream.
   * @default {"DIR/upstream-ca.pem"}
   */
  upstreamCaFile?: string;
}

/**
 * Starts mitmdump with `_mitm_addon.py`, verifying the upstream against the test CA only, with
 * its own confdir under `dir`; resolves once it listens and has written its CA.
 */
export async function startMitm(dir: string, options: StartMitmOptions = {}): Promise<Mitm> {
  const port = freePort();
  const confdir = join(dir, "mitmproxy");
  const { reverseTo, upstreamCaFile = join(dir, "upstream-ca.pem") } = options;
  const process = new Deno.Command("mitmdump", {
    args: [
      "-q",
      ...(reverseTo ? ["--mode", `reverse:${reverseTo}`] : []),
      "--listen-host",
      "127.0.0.1",
      "--listen-port",
      String(port),
      "--set",
      `confdir=${confdir}`,
      "--set",
      "ssl_insecure=false",
      "--set",
      `ssl_verify_upstream_trusted_ca=${upstreamCaFile}`,
      "-s",
      join(ROOT, "bench", "_mitm_addon.py"),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const keep = (l: string) => void (lines.length < 10_000 && lines.push(l));
  const drains = [drainLines(process.stdout, keep), drainLines(process.stderr, keep)];
  const caFile = join(confdir, "mitmproxy-ca-cert.pem");
  for (let i = 0;; i++) {
    if (i > 300) {
      process.kill("SIGKILL");
      throw new Error(`mitmdump did not start in 30 s: ${lines.slice(-5).join(" | ")}`);
    }
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      await Deno.stat(caFile);
      break;
    } catch {
      await sleep(100);
    }
  }
  return {
    process,
    port,
    caPem: await Deno.readTextFile(caFile),
    lines,
    async stop() {
      process.kill("SIGTERM");
      const exited = await settlesWithin(process.status, 1_000);
      if (!exited) process.kill("SIGKILL");
      await process.status;
      await Promise.allSettled(drains);
    },
  };
}

if (import.meta.main) {
  const [mode, dir] = Deno.args;
  if (mode === "upstream") await serveUpstream(dir);
  else if (mode === "gateway") await serveGateway(dir);
  else throw new TypeError(`Cannot serve '${mode}': expected 'upstream' or 'gateway'`);
}
