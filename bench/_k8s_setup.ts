/**
 * The Kubernetes bench's servers: an API server stand-in (canned responses, or the tests' fake
 * API server) and the gateway with a `kubernetes` endpoint in front of it. Each runs in a child
 * process started from this file (`deno run -A bench/_k8s_setup.ts upstream|fixture|gateway
 * DIR`), so no two share an event loop with each other or with the load generator.
 *
 * @module
 */

import "reflect-metadata";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { AgentRegistry } from "../src/agents/mod.ts";
import { concatBytes } from "../src/core/mod.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { createState, Gateway, type LogLevel, RECEIPTS_FILE } from "../src/gateway/mod.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import { mintTestCa, mintTestCertificate } from "../tests/_test_ca.ts";
import { type Child, ROOT, serveCommands, spawnChild } from "./_child.ts";
import { cannedBodies } from "./_k8s_bodies.ts";
import { authorizationOf, startResponder } from "./_responder.ts";

/** The gateway's `kubernetes` endpoint. */
export const ENDPOINT = "k8s-prod";
/** The credential holding the API server's token, bound to the endpoint. */
export const CREDENTIAL = "k8s_token";
/** Rules that match none of the bench's requests, evaluated before the pack's. */
export const FILLER_RULES = 50;

const SELF = import.meta.filename!;
const enc = new TextEncoder();

/** What the API server stand-in has seen, by kind of request. */
export interface UpstreamCounts {
  /** Requests carrying the cluster's token. */
  authorized: number;
  /** Requests without it, or with another value (answered 401). */
  unauthorized: number;
  /** Requests for secrets, whatever their credentials: the gateway must never let one through. */
  secrets: number;
}

/** Each filler reads facts a real policy reads; none matches a request the bench sends. */
function fillerCondition(i: number): string {
  switch (i % 5) {
    case 0:
      return `k8s.verb in ['delete', 'deletecollection'] && k8s.namespace == 'team-${i}'`;
    case 1:
      return `k8s.api_group == 'ext${i}.example.com' && k8s.resource == 'widgets'`;
    case 2:
      return `k8s.verb in ['get', 'list'] && k8s.namespace == 'ns-${i}' && 'x-debug' in http.headers`;
    case 3:
      return `agent.profile == 'p${i}' && k8s.resource in ['pods', 'deployments']`;
    default:
      return `k8s.name.matches('^job-${i}-[a-z0-9]+$') || http.query.exists(k, k == 'debug${i}')`;
  }
}

/**
 * The endpoint, its credential, the agent's profile, 50 filler rules at priority 300 (above the
 * pack's highest, 200, so every request evaluates all of them first) and the shipped
 * rules/kubernetes.hcl pointed at this endpoint, whose matching rules come last.
 */
async function gatewayConfig(upstreamPort: number): Promise<string> {
  const pack = (await Deno.readTextFile(join(ROOT, "rules", "kubernetes.hcl")))
    .replaceAll("kubernetes.cluster", `kubernetes.${ENDPOINT}`);
  const fillers: string[] = [];
  for (let i = 0; i < FILLER_RULES; i++) {
    fillers.push(
      `rule "org-${i}" {\n  endpoint  = kubernetes.${ENDPOINT}\n  priority  = 300\n` +
        `  condition = "${fillerCondition(i)}"\n  verdict   = "${i % 2 ? "allow" : "deny"}"\n}`,
    );
  }
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
}
endpoint "kubernetes" "${ENDPOINT}" {
  server  = "https://127.0.0.1:${upstreamPort}"
  listen  = "127.0.0.1:0"
  ca_cert = "<<file:apiserver-ca.pem>>"
}
credential "k8s_bearer_token" "${CREDENTIAL}" {
  endpoint = kubernetes.${ENDPOINT}
}
profile "oncall" {
  credentials = [k8s_bearer_token.${CREDENTIAL}]
}
approver "human_approver" "ops" {
  slack_channel = "#agent-ops"
}
${fillers.join("\n")}
${pack}`;
}

/** A Kubernetes `Status` failure response. */
function statusResponse(code: number, reason: string, message: string): Uint8Array {
  const body = JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
  return enc.encode(
    `HTTP/1.1 ${code} ${reason}\r\nCache-Control: no-cache, private\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${enc.encode(body).length}\r\n\r\n${body}`,
  );
}

/**
 * The API server stand-in: a minimal HTTP/1.1 responder on node:tls with a certificate for
 * 127.0.0.1 from its own test CA, answering the bench's four paths with canned bytes when the
 * request carries its token, 401 otherwise, 404 for anything else. Not the fake API server: that
 * one builds every response with JSON.stringify through node:https, ~8–12k req/s on this VM, so
 * it would take a large share of the two cores from the gateway and cap the direct column.
 */
async function serveUpstream(): Promise<void> {
  const ca = await mintTestCa("clawpatrol bench Kubernetes API CA");
  const leaf = await mintTestCertificate(ca, { hosts: ["127.0.0.1"] });
  const token = `bench-${crypto.randomUUID()}`;
  const counts: UpstreamCounts = { authorized: 0, unauthorized: 0, secrets: 0 };
  const canned = new Map<string, Uint8Array>();
  const sizes: Record<string, number> = {};
  const unauthorized = statusResponse(401, "Unauthorized", "Unauthorized");
  const notFound = statusResponse(
    404,
    "NotFound",
    "the server could not find the requested resource",
  );
  const expected = `Bearer ${token}`;
  const server = await startResponder(leaf.certPem, leaf.keyPem, ({ head, target }) => {
    const path = target.split("?")[0];
    if (/\/secrets(\/|$)/.test(path)) counts.secrets++;
    if (authorizationOf(head) !== expected) {
      counts.unauthorized++;
      return unauthorized;
    }
    counts.authorized++;
    return canned.get(path) ?? notFound;
  });
  const port = (server.address() as AddressInfo).port;
  const date = new Date().toUTCString();
  for (const [path, body] of cannedBodies(`127.0.0.1:${port}`)) {
    const bytes = enc.encode(body);
    sizes[path] = bytes.length;
    const head = enc.encode(
      `HTTP/1.1 200 OK\r\nAudit-Id: ${crypto.randomUUID()}\r\nCache-Control: no-cache, private\r\n` +
        `Content-Type: application/json\r\nX-Kubernetes-Pf-Flowschema-Uid: ${crypto.randomUUID()}` +
        `\r\nX-Kubernetes-Pf-Prioritylevel-Uid: ${crypto.randomUUID()}\r\nDate: ${date}\r\n` +
        `Content-Length: ${bytes.length}\r\n\r\n`,
    );
    canned.set(path, concatBytes([head, bytes]));
  }
  console.log(JSON.stringify({ port, pid: Deno.pid, token, caPem: ca.certPem, sizes }));
  await serveCommands({ counts: () => ({ ...counts }) });
  server.close();
}

/** The tests' fake API server (tests/_k8s_apiserver.ts) as the upstream, counted the same way. */
async function serveFixture(): Promise<void> {
  // Imported here, so the other children never load the tests' fixture.
  const { startFakeApiServer } = await import("../tests/_k8s_apiserver.ts");
  const api = await startFakeApiServer();
  const counts: UpstreamCounts = { authorized: 0, unauthorized: 0, secrets: 0 };
  const expected = `Bearer ${api.token}`;
  // It records every request; fold them into counts and drop them, so memory stays flat.
  const fold = () => {
    for (const r of api.requests) {
      if (r.authorization === expected) counts.authorized++;
      else counts.unauthorized++;
      if (/\/secrets(\/|$)/.test(r.path)) counts.secrets++;
    }
    api.requests.length = 0;
  };
  const timer = setInterval(fold, 250);
  const port = Number(new URL(api.url).port);
  console.log(JSON.stringify({ port, pid: Deno.pid, token: api.token, caPem: api.caPem }));
  await serveCommands({
    counts: () => {
      fold();
      return { ...counts };
    },
  });
  clearInterval(timer);
  await api.close();
}

async function serveGateway(dir: string): Promise<void> {
  const log = {
    log(level: LogLevel, message: string, fields?: Record<string, unknown>) {
      if (level === "debug" || level === "info") return;
      console.error(`${level} ${message}${fields ? " " + JSON.stringify(fields) : ""}`);
    },
  };
  const gateway = await Gateway.start(join(dir, "gateway.hcl"), {
    log,
    version: "bench",
    watch: false,
  });
  const address = gateway.listenerAddresses("kubernetes").get(ENDPOINT);
  if (!address) throw new Error(`The gateway has no listener for endpoint '${ENDPOINT}'`);
  console.log(JSON.stringify({ port: address.port, pid: Deno.pid }));
  await serveCommands();
  // Stopping waits for every receipt to be committed, so the parent can count them after.
  await gateway.stop();
}

/** The API server stand-in as the bench's clients see it. */
export interface Upstream {
  child: Child;
  port: number;
  /** The cluster's token (what the vault holds, and what direct requests carry). */
  token: string;
  /** The CA its certificate chains to. */
  caPem: string;
  /** Body bytes by path; empty for the fixture, whose sizes the bench reads off the wire. */
  sizes: Record<string, number>;
  counts(): Promise<UpstreamCounts>;
}

/** Starts the canned upstream (`"canned"`) or the tests' fake API server (`"fixture"`). */
export async function startUpstream(kind: "canned" | "fixture"): Promise<Upstream> {
  const child = await spawnChild(SELF, [kind === "canned" ? "upstream" : "fixture"], {
    fdLimit: 4096,
  });
  const ready = child.ready as {
    port: number;
    token: string;
    caPem: string;
    sizes?: Record<string, number>;
  };
  return {
    child,
    port: ready.port,
    token: ready.token,
    caPem: ready.caPem,
    sizes: ready.sizes ?? {},
    counts: async () => (await child.ask("counts")) as unknown as UpstreamCounts,
  };
}

/** The gateway child and what an agent needs to use it. */
export interface GatewayChild {
  child: Child;
  port: number;
  /** The enrolled agent's clawpatrol token (agent `bot`, profile `oncall`). */
  token: string;
  /** The gateway CA, which the agent trusts. */
  caPem: string;
}

/**
 * Writes the gateway's config and state in this process (as `init`, `vault set` and `agent add`
 * would), then starts the gateway child in front of `upstream`.
 */
export async function startGateway(dir: string, upstream: Upstream): Promise<GatewayChild> {
  await Deno.writeTextFile(join(dir, "apiserver-ca.pem"), upstream.caPem);
  await Deno.writeTextFile(join(dir, "gateway.hcl"), await gatewayConfig(upstream.port));
  const stateDir = join(dir, "state");
  await createState(stateDir, false);
  const vault = await openVault(stateDir);
  try {
    await vault.set(CREDENTIAL, DEFAULT_SLOT, upstream.token);
  } finally {
    vault.close();
  }
  const token = AgentRegistry.open(stateDir).add("bot", "oncall");
  const child = await spawnChild(SELF, ["gateway", dir], { fdLimit: 4096 });
  const caPem = await Deno.readTextFile(join(stateDir, CA_CERT_FILE));
  return { child, port: child.ready.port as number, token, caPem };
}

/** Receipts in the stopped gateway's store, by `verdict rule` (`-` for no rule). */
export function receiptCounts(dir: string): Record<string, number> {
  const db = new DatabaseSync(join(dir, "state", RECEIPTS_FILE), { readOnly: true });
  try {
    const rows = db.prepare(
      `SELECT canonical ->> '$.verdict' AS verdict, canonical ->> '$.rule' AS rule, count(*) AS n
        FROM receipts GROUP BY verdict, rule ORDER BY n DESC`,
    ).all() as { verdict: string; rule: string | null; n: number }[];
    return Object.fromEntries(rows.map((r) => [`${r.verdict} ${r.rule ?? "-"}`, Number(r.n)]));
  } finally {
    db.close();
  }
}

if (import.meta.main) {
  const [mode, dir] = Deno.args;
  if (mode === "upstream") await serveUpstream();
  else if (mode === "fixture") await serveFixture();
  else if (mode === "gateway") await serveGateway(dir);
  else throw new TypeError(`Cannot serve '${mode}': expected 'upstream', 'fixture' or 'gateway'`);
}
