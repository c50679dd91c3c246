/**
 * A WireGuard tunnel between the gateway host (this process's network: the gateway runs
 * in-process, its interface comes up through `clawpatrol tunnel up`) and agent hosts, each a
 * network namespace the fixture creates with a veth link to this host and `wireguard-go` (the
 * kernel here has no WireGuard) configured from the `wg-quick` file `agent add --wireguard`
 * printed. Real HTTPS and PostgreSQL upstreams on loopback, as in `_isolate_fixture.ts`. Root only;
 * everything is undone afterwards.
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { cli, type CliResult, eventually } from "./_helpers.ts";
import { startTestGateway } from "./_gateway.ts";
import { HTTPS_RULES, POSTGRES_RULES } from "./_transparent_fixture.ts";
import { prepareCluster, RO_PASSWORD } from "./_pg_fixture.ts";
import { type PgCluster, startPostgres } from "./_postgres.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";
import { type AgentHost, startAgentHost, underlay } from "./_tunnel_host.ts";

/** What a test gets. */
export interface TunnelFixture {
  dir: string;
  config: string;
  gateway(): Gateway;
  pg: PgCluster;
  vipRange: string;
  /** The tunnel's name, interface and UDP port on this host. */
  tunnel: { name: string; iface: string; port: number };
  /** Requests the upstream saw. */
  seen: { method: string; path: string; authorization: string | null }[];
  receipts(): Receipt[];
  /** `clawpatrol ARGS… -c CONFIG`. */
  cli(...args: string[]): Promise<CliResult>;
  /**
   * Enrols agent `name` with `--wireguard` (and `extra` options) and brings its host up. Its file
   * names this host's underlay address as the endpoint, or what `endpointOf` makes of it.
   */
  addHost(
    name: string,
    extra?: string[],
    endpointOf?: (here: string, port: number) => string,
  ): Promise<AgentHost>;
  /** Stops the gateway and starts a new one on the same config and state. */
  restartGateway(): Promise<void>;
}

/** Runs `fn` with a tunnel up and its gateway serving; undoes everything after. */
export async function withTunnel(fn: (fx: TunnelFixture) => Promise<void>): Promise<void> {
  const [a, b, c] = crypto.getRandomValues(new Uint8Array(3));
  const id = `${a.toString(16).padStart(2, "0")}${b.toString(16).padStart(2, "0")}`;
  const vipRange = `10.${100 + (a % 100)}.${b}.0/24`;
  const tunnelNet = `10.${200 + (a % 50)}.${b}`;
  const port = 40_000 + (a * 256 + c) % 20_000;
  const tunnel = { name: `t${id}`, iface: `cpwgt${id}`, port };
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_tunnel_" });
  const seen: TunnelFixture["seen"] = [];
  const ca = await mintTestCa();
  const leaf = await mintTestCertificate(ca, { hosts: ["api.example.test"] });
  const upstream = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen() {},
  }, (req) => {
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname,
      authorization: req.headers.get("authorization"),
    });
    return Response.json({ path: url.pathname });
  });
  await Deno.writeTextFile(join(dir, "upstream-ca.pem"), ca.certPem);
  const hosts: AgentHost[] = [];
  let pg: PgCluster | undefined;
  let gateway: Gateway | undefined;
  const config = join(dir, "gateway.hcl");
  const run = (...args: string[]) => cli([...args, "-c", config], { timeoutMs: 60_000 });
  try {
    pg = await startPostgres();
    await prepareCluster(pg);
    const linkRange = `10.${50 + (a % 50)}.${b}.0/24`;
    const parts = { vipRange, linkRange, tunnelNet, tunnel };
    const text = configText({ ...parts, upstream: upstream.addr.port, pg: pg.port });
    gateway = (await startTestGateway(dir, text, {
      api_token: "real-upstream-token-77d1",
      pg_ro: RO_PASSWORD,
    }, { name: "local", profile: "bots" })).gateway;
    const up = await run("tunnel", "up", tunnel.name);
    if (up.code !== 0) throw new Error(`tunnel up: ${up.stdout}${up.stderr}`);
    let hostCount = 0;
    await fn({
      dir,
      config,
      gateway: () => gateway!,
      pg,
      vipRange,
      tunnel,
      seen,
      receipts: () => queryReceipts(join(dir, "state", "receipts.db")),
      cli: run,
      addHost: async (name, extra = [], endpointOf = (here, port) => `${here}:${port}`) => {
        // Its underlay: a /30 of its own, numbered apart from other tests' hosts.
        const n = (c + 7 * hostCount) % 250 + 1;
        const endpoint = endpointOf(underlay(n).here, tunnel.port);
        const added = await run(
          "agent",
          "add",
          name,
          ...["--profile", "bots", "--wireguard", "--endpoint", endpoint, ...extra],
        );
        if (added.code !== 0) throw new Error(`agent add: ${added.stdout}${added.stderr}`);
        const wgQuick = added.stdout.slice(0, added.stdout.indexOf("The WireGuard file above"));
        const host = await startAgentHost(`${id}${hostCount++}`, n, wgQuick);
        hosts.push(host);
        // Ready once the gateway answers through the tunnel (handshake done, responder up).
        await eventually("an answer through the tunnel", async () => {
          const dig = await host.exec("dig +short +tries=1 +time=2 api.example.test");
          return /^\d+\.\d+\.\d+\.\d+$/m.test(dig.stdout) ? true : undefined;
        }, 30_000);
        return host;
      },
      restartGateway: async () => {
        await gateway!.stop();
        gateway = await Gateway.start(config, {
          log: new MemoryLogger(),
          version: "test",
          watch: false,
        });
      },
    });
  } finally {
    for (const host of hosts) await host.close();
    await run("tunnel", "down", tunnel.name).catch(() => {});
    await gateway?.stop();
    await new Deno.Command("ip", { args: ["route", "del", "local", vipRange, "dev", "lo"] })
      .output();
    await upstream.shutdown();
    await pg?.stop();
    await Deno.remove(dir, { recursive: true });
  }
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
}
credential "bearer_token" "api_token" {
  endpoint = https.api
  env      = "API_TOKEN"
}
credential "postgres_credential" "pg_ro" {
  endpoint = postgres.db
  user     = "agent_ro"
  database = "app"
}
profile "bots" {
  endpoints   = [https.api, postgres.db]
  credentials = [bearer_token.api_token, postgres_credential.pg_ro]
}
${HTTPS_RULES}${POSTGRES_RULES}`;
}
