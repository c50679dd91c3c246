/**
 * What `run --isolate` tests need, as root: the host prepared for a random virtual IP range and
 * link range (`isolate.sh prepare`: a local route and an nftables table of their own), a real
 * HTTPS upstream (its own CA) and a real PostgreSQL cluster on loopback, and an in-process gateway
 * whose https endpoint claims api.example.test on 443 and whose postgres endpoint claims
 * db.example.test:5432, each dialled at its loopback `upstream`. Everything is undone afterwards.
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import type { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { ISOLATE_SCRIPT } from "../src/cli/_isolate.ts";
import { startTestGateway } from "./_gateway.ts";
import { prepareCluster, RO_PASSWORD } from "./_pg_fixture.ts";
import { type PgCluster, postgresAvailable, startPostgres } from "./_postgres.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

/** Whether this machine can build the namespaces: root, with ip, nft, unshare and setpriv. */
export function isolationAvailable(): boolean {
  if (Deno.uid() !== 0 || !postgresAvailable()) return false;
  return ["ip", "nft", "unshare", "setpriv"].every((tool) =>
    new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" }).outputSync()
      .success
  );
}

/** What a test gets. */
export interface IsolateFixture {
  dir: string;
  config: string;
  gateway: Gateway;
  log: MemoryLogger;
  token: string;
  pg: PgCluster;
  vipRange: string;
  /** Requests the upstream saw. */
  seen: { method: string; path: string; authorization: string | null }[];
  receipts(): Receipt[];
}

const RULES = `
rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get' || (http.method == 'post' && http.path == '/v1/messages')"
  verdict   = "allow"
}
rule "no-deletes" {
  endpoint  = https.api
  condition = "http.method == 'delete'"
  verdict   = "deny"
  reason    = "deletes are not allowed"
}
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

/** Runs the privileged step with `args`; throws with its output when it fails. */
async function isolateStep(...args: string[]): Promise<void> {
  const out = await new Deno.Command("sh", { args: [ISOLATE_SCRIPT, ...args] }).output();
  if (!out.success) {
    throw new Error(`isolate.sh ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Runs `fn` against a prepared host and a running gateway; undoes everything after. */
export async function withIsolation(fn: (fx: IsolateFixture) => Promise<void>): Promise<void> {
  const [a, b] = crypto.getRandomValues(new Uint8Array(2));
  const vipRange = `10.${100 + (a % 100)}.${b}.0/24`;
  const linkRange = `10.${200 + (a % 50)}.${b}.0/24`;
  const gatewayAddress = vipRange.replace(/0\/24$/, "1");
  const ranges = ["--vip-range", vipRange, "--link-range", linkRange];
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_isolate_" });
  const seen: IsolateFixture["seen"] = [];
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
  let pg: PgCluster | undefined;
  let gateway: Gateway | undefined;
  try {
    pg = await startPostgres();
    await prepareCluster(pg);
    // Before the gateway: its responder listens on the range's first address.
    await isolateStep("prepare", ...ranges, "--dns", gatewayAddress, "--ports", "443 5432");
    const config = configText(vipRange, linkRange, upstream.addr.port, pg.port);
    const started = await startTestGateway(dir, config, {
      api_token: "real-upstream-token-5ac2",
      pg_ro: RO_PASSWORD,
    }, { name: "bot", profile: "bots" });
    gateway = started.gateway;
    await fn({
      dir,
      config: join(dir, "gateway.hcl"),
      gateway,
      log: started.log,
      token: started.token,
      pg,
      vipRange,
      seen,
      receipts: () => queryReceipts(join(dir, "state", "receipts.db")),
    });
  } finally {
    await gateway?.stop();
    await isolateStep("unprepare", ...ranges).catch(() => {});
    await upstream.shutdown();
    await pg?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function configText(vipRange: string, linkRange: string, upstream: number, pg: number): string {
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  transparent {
    vip_range  = "${vipRange}"
    link_range = "${linkRange}"
  }
}
endpoint "https" "api" {
  hosts    = ["api.example.test"]
  upstream = "127.0.0.1:${upstream}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
endpoint "postgres" "db" {
  host     = "db.example.test:5432"
  upstream = "127.0.0.1:${pg}"
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
${RULES}`;
}
