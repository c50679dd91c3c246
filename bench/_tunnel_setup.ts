/**
 * The world `bench/tunnel.ts` measures in: a PostgreSQL cluster (pgbench data, reachable from the
 * agent host's addresses too) and an HTTPS upstream on this host, a gateway in this process whose
 * WireGuard tunnel is up (`clawpatrol tunnel up`), and one agent host (a network namespace) enrolled
 * with `agent add --wireguard`. For the direct paths the tunnel interface's firewall also lets the
 * upstream's and the cluster's own ports through: the bench's addition, removed with the table.
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import type { Gateway } from "../src/gateway/mod.ts";
import { cli } from "../tests/_helpers.ts";
import { startTestGateway } from "../tests/_gateway.ts";
import { type PgCluster, startPostgres } from "../tests/_postgres.ts";
import { mintTestCa, mintTestCertificate } from "../tests/_test_ca.ts";
import { type AgentHost, startAgentHost, underlay } from "../tests/_tunnel_host.ts";
import { BENCH_DB, BENCH_USER, prepareBenchDatabase } from "./_pg_setup.ts";

/** Where each path of the bench reaches the upstream and the database. */
export interface TunnelWorld {
  host: AgentHost;
  /** The upstream's CA and the gateway's, as files the agent host reads. */
  upstreamCa: string;
  gatewayCa: string;
  upstreamPort: number;
  pgPort: number;
  pgPassword: string;
  /** This host's address on the agent host's underlay, and on the tunnel. */
  underlayAddress: string;
  tunnelAddress: string;
  gateway: Gateway;
  close(): Promise<void>;
}

const RULES = `
rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
rule "pg-read" {
  endpoint  = postgres.db
  condition = "sql.verbs.all(v, v in ['select','begin','commit','rollback','show','set'])"
  verdict   = "allow"
}
`;

/** Sets everything up; `close()` undoes it. */
export async function startTunnelWorld(scale: number): Promise<TunnelWorld> {
  const [a, b] = crypto.getRandomValues(new Uint8Array(2));
  const vipRange = `10.${100 + (a % 100)}.${b}.0/24`;
  const tunnelNet = `10.${200 + (a % 50)}.${b}`;
  const tunnel = { name: "bench", iface: `cpwgb${b}`, port: 40_000 + (a * 256 + b) % 20_000 };
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_tunnel_bench_" });
  const undo: (() => Promise<unknown>)[] = [() => Deno.remove(dir, { recursive: true })];
  const close = async () => {
    for (const step of undo.reverse()) await step().catch(() => {});
  };
  try {
    const ca = await mintTestCa();
    const leaf = await mintTestCertificate(ca, { hosts: ["api.example.test"] });
    const body = "x".repeat(64);
    const upstream = Deno.serve({
      hostname: "0.0.0.0",
      port: 0,
      cert: leaf.certPem,
      key: leaf.keyPem,
      onListen() {},
    }, () => new Response(body));
    undo.push(() => upstream.shutdown());
    await Deno.writeTextFile(join(dir, "upstream-ca.pem"), ca.certPem);
    const pg = await startPostgres({ settings: { listen_addresses: "'*'" } });
    undo.push(() => pg.stop());
    const { direct } = await prepareBenchDatabase(pg, scale);
    await allowAgentHosts(pg);
    const config = configText({
      vipRange,
      linkRange: `10.${50 + (a % 50)}.${b}.0/24`,
      tunnelNet,
      tunnel,
      upstream: upstream.addr.port,
      pg: pg.port,
    });
    const started = await startTestGateway(dir, config, { pg_bench: direct.password }, {
      name: "local",
      profile: "bench",
    });
    undo.push(() => started.gateway.stop());
    const run = (...args: string[]) => cli([...args, "-c", join(dir, "gateway.hcl")]);
    const up = await run("tunnel", "up", tunnel.name);
    if (up.code !== 0) throw new Error(`tunnel up: ${up.stderr}`);
    undo.push(() => run("tunnel", "down", tunnel.name));
    const n = (b % 250) + 1;
    const { here } = underlay(n);
    const added = await run(
      "agent",
      "add",
      "bench-host",
      ...["--profile", "bench", "--wireguard", "--endpoint", `${here}:${tunnel.port}`],
    );
    if (added.code !== 0) throw new Error(`agent add: ${added.stderr}`);
    const file = added.stdout.slice(0, added.stdout.indexOf("The WireGuard file above"));
    const host = await startAgentHost(`b${b}`, n, file);
    undo.push(() => host.close());
    undo.push(() => new Deno.Command("ip", { args: ["route", "del", "local", vipRange] }).output());
    // The direct paths: the upstream's and the cluster's own ports through the tunnel too.
    const table = `clawpatrol_wg_${tunnel.iface}`;
    await nft(
      "insert",
      "rule",
      "inet",
      table,
      "input",
      `iifname "${tunnel.iface}" tcp dport { ${upstream.addr.port}, ${pg.port} } accept`,
    );
    return {
      host,
      upstreamCa: join(dir, "upstream-ca.pem"),
      gatewayCa: join(dir, "state", "ca.pem"),
      upstreamPort: upstream.addr.port,
      pgPort: pg.port,
      pgPassword: direct.password,
      underlayAddress: here,
      tunnelAddress: `${tunnelNet}.1`,
      gateway: started.gateway,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function nft(...args: string[]): Promise<void> {
  const out = await new Deno.Command("nft", { args }).output();
  if (!out.success) {
    throw new Error(`nft ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** The agent host's underlay and tunnel addresses may log in directly (the direct paths). */
async function allowAgentHosts(pg: PgCluster): Promise<void> {
  const hba = join(pg.dataDir, "pg_hba.conf");
  const lines =
    "host all all 192.168.0.0/16 scram-sha-256\nhost all all 10.0.0.0/8 scram-sha-256\n";
  await Deno.writeTextFile(hba, lines, { append: true });
  await pg.sql("SELECT pg_reload_conf()");
}

interface ConfigParts {
  vipRange: string;
  linkRange: string;
  tunnelNet: string;
  tunnel: { name: string; iface: string; port: number };
  upstream: number;
  pg: number;
}

function configText(p: ConfigParts): string {
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  transparent {
    vip_range  = "${p.vipRange}"
    link_range = "${p.linkRange}"
  }
}
tunnel "wireguard" "${p.tunnel.name}" {
  address     = "${p.tunnelNet}.1/24"
  listen_port = ${p.tunnel.port}
  interface   = "${p.tunnel.iface}"
}
endpoint "https" "api" {
  hosts    = ["api.example.test"]
  upstream = "127.0.0.1:${p.upstream}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
endpoint "postgres" "db" {
  host     = "db.example.test:5432"
  upstream = "127.0.0.1:${p.pg}"
  listen   = "127.0.0.1:0"
  sslmode  = "disable"
}
credential "postgres_credential" "pg_bench" {
  endpoint = postgres.db
  user     = "${BENCH_USER}"
  database = "${BENCH_DB}"
}
profile "bench" {
  endpoints   = [https.api, postgres.db]
  credentials = [postgres_credential.pg_bench]
}
${RULES}`;
}
