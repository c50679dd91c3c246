/**
 * A gateway with transparent interception in front of a real HTTPS upstream (its own test CA)
 * and, when asked, a real PostgreSQL cluster. The virtual IPs come from a random /24 inside
 * 127.0.0.0/8, which Linux treats as local without any route: the gateway listens on them as it
 * would on a range routed to it, and a client on this host reaches them from 127.0.0.1, the
 * source address the fixture enrols for agent `bot`. Each fixture draws its own range, so tests
 * run in parallel without sharing an address.
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { SourceRegistry } from "../src/agents/mod.ts";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import type { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { startTestGateway } from "./_gateway.ts";
import { prepareCluster, RO_PASSWORD } from "./_pg_fixture.ts";
import { type PgCluster, startPostgres } from "./_postgres.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

/** The names the upstream's certificate holds: every name the tests reach it by. */
const UPSTREAM_NAMES = ["api.example.test", "eu.files.example.test", "other.example.test"];

/** What a test gets. */
export interface TransparentFixture {
  dir: string;
  gateway: Gateway;
  log: MemoryLogger;
  sources: SourceRegistry;
  /** The gateway CA clients must trust. */
  caFile: string;
  /** The port the https endpoint claims (its `ports`), where its virtual IP accepts. */
  httpsPort: number;
  /** Requests the upstream saw: method, path and the Authorization it got. */
  seen: { method: string; path: string; authorization: string | null; host: string | null }[];
  /** The cluster, when started with `postgres: true`; its users table is in database `app`. */
  pg?: PgCluster;
  /** The DNS responder's port on 127.0.0.1. */
  dnsPort: number;
  /** The committed receipts. */
  receipts(): Receipt[];
  /** The virtual IP the gateway's DNS responder answers for `name`, asked with `dig`. */
  vip(name: string): Promise<string>;
}

/** Options for {@linkcode withTransparent}. */
export interface TransparentOptions {
  postgres?: boolean;
}

/** Rules on endpoint `https.api`: GETs allowed, DELETEs denied. */
export const HTTPS_RULES = `
rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
rule "no-deletes" {
  endpoint  = https.api
  condition = "http.method == 'delete'"
  verdict   = "deny"
  reason    = "deletes are not allowed"
}
`;

/** Rules on endpoint `postgres.db`: DDL denied, plain reads allowed. */
export const POSTGRES_RULES = `
rule "pg-no-ddl" {
  endpoint  = postgres.db
  priority  = 100
  condition = "sql.verbs.exists(v, v in ['drop','truncate','alter','create'])"
  verdict   = "deny"
  reason    = "Schema changes land via migration PR, not via the agent"
}
rule "pg-reads" {
  endpoint  = postgres.db
  condition = "sql.verbs.all(v, v in ['select','show'])"
  verdict   = "allow"
}
`;

/** A random /24 in 127.0.0.0/8 away from 127.0.0.x. */
function randomRange(): string {
  const octets = crypto.getRandomValues(new Uint8Array(2));
  return `127.${100 + (octets[0] % 150)}.${octets[1]}.0/24`;
}

/** Runs `fn` against a fresh gateway, upstream (and cluster); tears everything down after. */
export async function withTransparent(
  options: TransparentOptions,
  fn: (fx: TransparentFixture) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_transparent_" });
  const seen: TransparentFixture["seen"] = [];
  const upstreamCa = await mintTestCa();
  const leaf = await mintTestCertificate(upstreamCa, { hosts: UPSTREAM_NAMES });
  const upstream = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen() {},
  }, (req) => {
    const url = new URL(req.url);
    const entry = {
      method: req.method,
      path: url.pathname,
      authorization: req.headers.get("authorization"),
      host: req.headers.get("host"),
    };
    seen.push(entry);
    return Response.json(entry);
  });
  await Deno.writeTextFile(join(dir, "upstream-ca.pem"), upstreamCa.certPem);
  let pg: PgCluster | undefined;
  let gateway: Gateway | undefined;
  try {
    if (options.postgres) {
      pg = await startPostgres();
      await prepareCluster(pg);
    }
    // A high port stands for 443, so the test needs no privilege to listen.
    const httpsPort = 20_000 + crypto.getRandomValues(new Uint16Array(1))[0] % 20_000;
    const config = configText(httpsPort, upstream.addr.port, pg?.port);
    const started = await startTestGateway(dir, config, {
      api_token: "real-upstream-token-93f1",
      pg_ro: RO_PASSWORD,
    }, { name: "bot", profile: "bots" });
    gateway = started.gateway;
    const stateDir = join(dir, "state");
    const sources = SourceRegistry.open(stateDir, { refreshIntervalMs: 0 });
    sources.register("127.0.0.1", "bot", "static");
    const status = await statusOf(gateway);
    const dns = status.transparent.dns as string;
    const dnsPort = Number(dns.slice(dns.lastIndexOf(":") + 1));
    await fn({
      dir,
      gateway,
      log: started.log,
      sources,
      caFile: join(stateDir, "ca.pem"),
      httpsPort,
      seen,
      pg,
      dnsPort,
      receipts: () => queryReceipts(join(stateDir, "receipts.db")),
      vip: (name) => digA(dnsPort, name),
    });
  } finally {
    await gateway?.stop();
    await upstream.shutdown();
    await pg?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The one A record `dig` gets for `name` from the responder on `port`. */
async function digA(port: number, name: string): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+short", "+tries=1", "+time=5", name, "A"],
  }).output();
  const answer = new TextDecoder().decode(out.stdout).trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(answer)) throw new Error(`dig ${name}: '${answer}'`);
  return answer;
}

async function statusOf(gateway: Gateway) {
  const { hostname, port } = gateway.adminAddress;
  return await (await fetch(`http://${hostname}:${port}/status`)).json();
}

function configText(httpsPort: number, upstreamPort: number, pgPort?: number): string {
  const postgres = pgPort === undefined ? "" : `
endpoint "postgres" "db" {
  host   = "localhost:${pgPort}"
  listen = "127.0.0.1:0"
}
credential "postgres_credential" "pg_ro" {
  endpoint = postgres.db
  user     = "agent_ro"
  database = "app"
}`;
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  transparent {
    vip_range  = "${randomRange()}"
    dns_listen = "127.0.0.1:0"
  }
}
endpoint "https" "api" {
  hosts    = ["api.example.test", "*.files.example.test"]
  ports    = [${httpsPort}]
  upstream = "127.0.0.1:${upstreamPort}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
endpoint "https" "other" {
  hosts    = ["other.example.test"]
  ports    = [${httpsPort}]
  upstream = "127.0.0.1:${upstreamPort}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
credential "bearer_token" "api_token" {
  endpoint = https.api
}
${postgres}
profile "bots" {
  endpoints   = [https.api${pgPort === undefined ? "" : ", postgres.db"}]
  credentials = [bearer_token.api_token${pgPort === undefined ? "" : ", postgres_credential.pg_ro"}]
}
${HTTPS_RULES}${pgPort === undefined ? "" : POSTGRES_RULES}`;
}
