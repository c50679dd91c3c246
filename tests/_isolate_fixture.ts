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
import { POSTGRES_RULES } from "./_transparent_fixture.ts";
import { prepareCluster, RO_PASSWORD } from "./_pg_fixture.ts";
import { type PgCluster, postgresAvailable, startPostgres } from "./_postgres.ts";
import { type FakeApiServer, startFakeApiServer } from "./_k8s_apiserver.ts";
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
  /** The fake Kubernetes API server behind endpoint `cluster` (k8s.example.test:6443). */
  api: FakeApiServer;
  vipRange: string;
  linkRange: string;
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
rule "k8s-reads" {
  endpoint  = kubernetes.cluster
  condition = "k8s.verb in ['get', 'list']"
  verdict   = "allow"
}
rule "k8s-no-namespace-deletes" {
  endpoint  = kubernetes.cluster
  condition = "k8s.verb == 'delete' && k8s.resource == 'namespaces'"
  verdict   = "deny"
  reason    = "Deleting namespaces is not allowed"
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
export async function withIsolation(
  fn: (fx: IsolateFixture) => Promise<void>,
  options: { portOffset?: number } = {},
): Promise<void> {
  const offset = options.portOffset ?? 0;
  const [a, b] = crypto.getRandomValues(new Uint8Array(2));
  const vipRange = `10.${100 + (a % 100)}.${b}.0/24`;
  const linkRange = `10.${200 + (a % 50)}.${b}.0/24`;
  const gatewayAddress = vipRange.replace(/0\/24$/, "1");
  const ranges = ["--vip-range", vipRange, "--link-range", linkRange];
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_isolate_" });
  const seen: IsolateFixture["seen"] = [];
  const ca = await mintTestCa();
  const leaf = await mintTestCertificate(ca, { hosts: ["api.example.test"] });
  const repo = await bareRepository(dir);
  const upstream = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen() {},
  }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname,
      authorization: req.headers.get("authorization"),
    });
    // Git's "dumb" HTTP transport: the bare repository's files, as they are on disk.
    if (url.pathname.startsWith("/repo.git/") && !url.pathname.includes("..")) {
      const file = await Deno.readFile(join(repo, url.pathname.slice(10))).catch(() => null);
      return file ? new Response(file) : new Response("not found", { status: 404 });
    }
    return Response.json({ path: url.pathname });
  });
  await Deno.writeTextFile(join(dir, "upstream-ca.pem"), ca.certPem);
  let pg: PgCluster | undefined;
  let api: FakeApiServer | undefined;
  let gateway: Gateway | undefined;
  try {
    pg = await startPostgres();
    await prepareCluster(pg);
    api = await startFakeApiServer({ hosts: ["k8s.example.test"] });
    await Deno.writeTextFile(join(dir, "k8s-ca.pem"), api.caPem);
    // Before the gateway: its responder listens on the range's first address.
    await isolateStep(
      "prepare",
      ...ranges,
      ...["--dns", gatewayAddress, "--dns-port", String(53 + offset), "--ports", "443 5432 6443"],
      ...["--port-offset", String(offset)],
    );
    const ports = { https: upstream.addr.port, pg: pg.port, k8s: Number(new URL(api.url).port) };
    const config = configText(vipRange, linkRange, ports, offset);
    const started = await startTestGateway(dir, config, {
      api_token: "real-upstream-token-5ac2",
      pg_ro: RO_PASSWORD,
      k8s_token: api.token,
    }, { name: "bot", profile: "bots" });
    gateway = started.gateway;
    await fn({
      dir,
      config: join(dir, "gateway.hcl"),
      gateway,
      log: started.log,
      token: started.token,
      pg,
      api,
      vipRange,
      linkRange,
      seen,
      receipts: () => queryReceipts(join(dir, "state", "receipts.db")),
    });
  } finally {
    await gateway?.stop();
    await isolateStep("unprepare", ...ranges).catch(() => {});
    await upstream.shutdown();
    await api?.close();
    await pg?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A bare repository with one commit, ready for git's dumb HTTP transport. */
async function bareRepository(dir: string): Promise<string> {
  const work = join(dir, "work");
  const bare = join(dir, "repo.git");
  const git = async (cwd: string, ...args: string[]) => {
    const out = await new Deno.Command("git", {
      args: ["-c", "user.name=t", "-c", "user.email=t@example.test", ...args],
      cwd,
    }).output();
    if (!out.success) throw new Error(`git ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  };
  await Deno.mkdir(work);
  await git(work, "init", "-q", "-b", "main");
  await Deno.writeTextFile(join(work, "README"), "cloned through the gateway\n");
  await git(work, "add", "README");
  await git(work, "commit", "-q", "-m", "first");
  await git(dir, "clone", "-q", "--bare", work, bare);
  await git(bare, "update-server-info");
  return bare;
}

function configText(
  vipRange: string,
  linkRange: string,
  ports: { https: number; pg: number; k8s: number },
  offset: number,
): string {
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  transparent {
    vip_range   = "${vipRange}"
    link_range  = "${linkRange}"
    port_offset = ${offset}
  }
}
endpoint "https" "api" {
  hosts    = ["api.example.test"]
  upstream = "127.0.0.1:${ports.https}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
endpoint "postgres" "db" {
  host     = "db.example.test:5432"
  upstream = "127.0.0.1:${ports.pg}"
  listen   = "127.0.0.1:0"
}
endpoint "kubernetes" "cluster" {
  server   = "https://k8s.example.test:6443"
  upstream = "127.0.0.1:${ports.k8s}"
  ca_cert  = "<<file:k8s-ca.pem>>"
}
credential "k8s_bearer_token" "k8s_token" {
  endpoint = kubernetes.cluster
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
  endpoints   = [https.api, postgres.db, kubernetes.cluster]
  credentials = [bearer_token.api_token, postgres_credential.pg_ro, k8s_bearer_token.k8s_token]
}
${RULES}${POSTGRES_RULES}`;
}
