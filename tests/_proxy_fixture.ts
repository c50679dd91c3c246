/**
 * A gateway with its forward proxy running in-process, in front of real local HTTPS upstreams
 * that use their own test CA (reached through endpoint `upstream` overrides), with one enrolled
 * agent. Tests drive it with real clients (curl, python3, fetch) or raw sockets.
 *
 * Endpoints: `api` (hosts api.test, *.api.test; in the agent's profile), `other` (other.test;
 * not in the profile), `badcert` (badcert.test: the upstream's certificate names api.test),
 * `down` (down.test: nothing listens), `slashes` (slashes.test: allow_encoded_slash = true).
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import { createState, Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { createGatewayCa, loadGatewayCa, mintLeaf } from "../src/tls/mod.ts";
import { closedPort } from "./_helpers.ts";
import { gatewayHeader } from "./_gateway.ts";

/** One request as the upstream saw it. */
export interface SeenRequest {
  method: string;
  /** Path and query as received. */
  target: string;
  headers: Headers;
  body: string;
}

/** What a test gets. */
export interface ProxyFixture {
  dir: string;
  gateway: Gateway;
  log: MemoryLogger;
  /** The enrolled agent `bot` (profile `bots`) and its token. */
  agent: string;
  token: string;
  proxyPort: number;
  /** `http://bot:TOKEN@127.0.0.1:PORT` */
  proxyUrl: string;
  /** PEM file with the gateway CA, for clients' trust. */
  caFile: string;
  /** Requests that reached the upstream, in order. */
  seen: SeenRequest[];
  /** Port of the HTTPS upstream. */
  upstreamPort: number;
  /** Committed receipts (flushes the queue first). */
  receipts(): Promise<Receipt[]>;
  /** Enrols another agent; returns its token. */
  addAgent(name: string, profile?: string): string;
  registry: AgentRegistry;
}

/** Options for {@linkcode withProxy}. */
export interface ProxyFixtureOptions {
  /** Rule blocks appended to the config (default: GET allowed, DELETE denied, POST /echo allowed). */
  rules?: string;
  /** `deny` or `passthrough`. @default {"deny"} */
  unknownHost?: "deny" | "passthrough";
  /** Lines inside `gateway.limits { … }`. */
  limits?: string;
  /** Upstream handler; default echoes method, path, selected headers and body as JSON. */
  handler?: (req: Request) => Response | Promise<Response>;
  /** Credential blocks (and anything else) appended to the config. */
  credentials?: string;
  /** Credential references added to profile `bots`. */
  botCredentials?: string[];
  /** Lines inside `defaults { … }`. */
  defaults?: string;
  /** Secrets stored in the vault (name → value) before the gateway starts. */
  secrets?: Record<string, string>;
  /** Attribute lines added inside `endpoint "https" "api" { … }` (e.g. `ports = [443, 8443]`). */
  apiAttributes?: string;
}

/** Default rules: reads allowed, deletes denied, POST allowed only on /echo. */
export const DEFAULT_RULES = `
rule "reads" {
  endpoint  = https.api
  condition = "http.method in ['get', 'head']"
  verdict   = "allow"
}
rule "no-deletes" {
  endpoint  = https.api
  condition = "http.method == 'delete'"
  verdict   = "deny"
  reason    = "deletes are not allowed"
}
rule "echo-posts" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/echo'"
  verdict   = "allow"
}
rule "slashes-all" {
  endpoint  = https.slashes
  condition = "true"
  verdict   = "allow"
}
rule "badcert-all" {
  endpoint  = https.badcert
  condition = "true"
  verdict   = "allow"
}
rule "down-all" {
  endpoint  = https.down
  condition = "true"
  verdict   = "allow"
}
`;

async function echo(req: Request): Promise<Response> {
  const url = new URL(req.url);
  return Response.json({
    method: req.method,
    path: url.pathname,
    query: url.search,
    host: req.headers.get("host"),
    body: await req.text(),
  });
}

/**
 * Runs `fn` against a fresh gateway + upstream in a temp dir; tears everything down after.
 *
 * @example
 * ```ts
 * await withProxy({}, async (fx) => { … curl --proxy fx.proxyUrl --cacert fx.caFile … });
 * ```
 */
export async function withProxy(
  options: ProxyFixtureOptions,
  fn: (fx: ProxyFixture) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_proxy_" });
  const seen: SeenRequest[] = [];
  const handler = options.handler ?? echo;
  const upstreamCaDir = join(dir, "upstream-ca");
  await Deno.mkdir(upstreamCaDir);
  await createGatewayCa(upstreamCaDir);
  const upstreamCa = await loadGatewayCa(upstreamCaDir);
  const leaf = await mintLeaf(upstreamCa, "api.test");
  const wildcard = await mintLeaf(upstreamCa, "slashes.test");
  const upstream = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen() {},
  }, async (req) => {
    const url = new URL(req.url);
    const clone = req.clone();
    seen.push({
      method: req.method,
      target: url.pathname + url.search,
      headers: req.headers,
      body: await clone.text(),
    });
    return handler(req);
  });
  const slashes = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: wildcard.certPem,
    key: wildcard.keyPem,
    onListen() {},
  }, (req) => {
    const url = new URL(req.url);
    seen.push({ method: req.method, target: url.pathname, headers: req.headers, body: "" });
    return Response.json({ path: url.pathname });
  });
  await Deno.writeTextFile(join(dir, "upstream-ca.pem"), upstreamCa.certPem);
  const config = join(dir, "gateway.hcl");
  await Deno.writeTextFile(
    config,
    `${gatewayHeader(options.limits)}defaults {
  unknown_host = "${options.unknownHost ?? "deny"}"
${options.defaults ?? ""}
}
endpoint "https" "api" {
  hosts    = ["api.test", "*.api.test"]
  upstream = "127.0.0.1:${upstream.addr.port}"
  ca_cert  = "<<file:upstream-ca.pem>>"
${options.apiAttributes ?? ""}
}
endpoint "https" "other" {
  hosts    = ["other.test"]
  upstream = "127.0.0.1:${upstream.addr.port}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
endpoint "https" "badcert" {
  hosts    = ["badcert.test"]
  upstream = "127.0.0.1:${upstream.addr.port}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
endpoint "https" "down" {
  hosts    = ["down.test"]
  upstream = "127.0.0.1:${closedPort()}"
}
endpoint "https" "slashes" {
  hosts               = ["slashes.test"]
  upstream            = "127.0.0.1:${slashes.addr.port}"
  ca_cert             = "<<file:upstream-ca.pem>>"
  allow_encoded_slash = true
}
profile "bots" {
  endpoints   = [https.api, https.badcert, https.down, https.slashes]
  credentials = [${(options.botCredentials ?? []).join(", ")}]
}
profile "others" {
  endpoints = [https.other]
}
${options.credentials ?? ""}
${options.rules ?? DEFAULT_RULES}
`,
  );
  const stateDir = join(dir, "state");
  await createState(stateDir, false);
  if (options.secrets) {
    const vault = await openVault(stateDir);
    for (const [name, value] of Object.entries(options.secrets)) {
      await vault.set(name, DEFAULT_SLOT, value);
    }
    vault.close();
  }
  const registry = AgentRegistry.open(stateDir);
  const token = registry.add("bot", "bots");
  const log = new MemoryLogger();
  const gateway = await Gateway.start(config, { log, version: "test", watch: false });
  const proxyPort = gateway.proxyAddress.port;
  const fx: ProxyFixture = {
    dir,
    gateway,
    log,
    agent: "bot",
    token,
    proxyPort,
    proxyUrl: `http://bot:${token}@127.0.0.1:${proxyPort}`,
    caFile: join(stateDir, "ca.pem"),
    seen,
    upstreamPort: upstream.addr.port,
    registry,
    receipts: async () => {
      // Allowed exchanges write their receipt as they end, just after the agent's last byte.
      await gateway.settled();
      return queryReceipts(join(stateDir, "receipts.db"));
    },
    addAgent: (name, profile = "bots") => registry.add(name, profile),
  };
  try {
    await fn(fx);
  } finally {
    await gateway.stop();
    await upstream.shutdown();
    await slashes.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}
