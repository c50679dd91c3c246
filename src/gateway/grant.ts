/**
 * The Deno permissions a command runs with, computed from its config (DESIGN.md: least
 * privilege). This is the one source of truth: the launcher asks for the grant (`clawpatrol
 * permissions`) and runs the command under exactly it, and `serve` checks at start that what it
 * runs with covers what its config needs.
 *
 * `serve`: read the app, the config's directory and included files, the state directory and the
 * system CA bundles; write the state directory; listen on the configured addresses and dial only
 * the `host:port`s the endpoints and approvers declare; the named environment variables; no
 * subprocess, no FFI. `unknown_host = "passthrough"` relays to any host: then the network grant
 * is open, and the grant says so.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Protocol } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
// The providers' defaults alone: the grant is computed before anything else loads.
import { DEFAULT_BASE_URLS } from "../approvals/_llm_providers.ts";

/** Environment variables the app reads (some through npm packages, named for each). */
export const APP_ENV: readonly string[] = [
  "CLAWPATROL_CONFIG",
  "CLAWPATROL_MASTER_KEY",
  "CLAWPATROL_DEBUG",
  "CLAWPATROL_AGENT_TOKEN",
  "CLAWPATROL_ADMIN_TOKEN",
  // The shared store's password, when its URL carries none.
  "CLAWPATROL_STORE_PASSWORD",
  // npm postgres (the shared store's client) reads it on every connect; ours overrides it.
  "PGAPPNAME",
  // How the user runs clawpatrol, for the commands it suggests (set by the launcher).
  "CLAWPATROL_COMMAND",
  "USER",
  "LOGNAME",
  // npm graceful-fs (via the Slack SDK) reads these when it loads.
  "GRACEFUL_FS_PLATFORM",
  "TEST_GRACEFUL_FS_GLOBAL_PATCH",
  // npm undici (Slack SDK), jest-worker checks, and npm graphql read these when they load.
  "UNDICI_NO_WASM_SIMD",
  "UNDICI_USE_MILO",
  "JEST_WORKER_ID",
  "NODE_ENV",
  // npm yaml (fixtures of `clawpatrol test`).
  "LOG_TOKENS",
  "LOG_STREAM",
];

/** The app's directory: the one holding main.ts, two levels above this file. */
export const APP_DIR = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** System CA bundles: upstream TLS verification, and the agents' bundle (`env`, `run`). */
export const CA_BUNDLE_DIRS: readonly string[] = ["/etc/ssl", "/etc/pki"];

/** Hosts Slack's Web API and Socket Mode connect to. */
const SLACK_HOSTS = ["slack.com:443", "*.slack.com:443"];

/** What a command may touch. Paths are absolute; `net: "all"` is an open network grant. */
export interface Grant {
  read: string[];
  write: string[];
  net: string[] | "all";
  env: string[];
  /** Programs it may start (`run` only), or none. */
  run: string[];
  sys: string[];
  /** Why a grant is broader than its config's endpoints (said loudly at start). */
  warnings: string[];
}

/** Where the app and the config are. */
export interface GrantContext {
  /** The installed app's directory (main.ts, node_modules). */
  app: string;
  /** The directory the config's relative paths resolve against (see `configDirOf`). */
  configDir: string;
}

/**
 * The grant `serve` needs for `config`.
 *
 * @example
 * ```ts
 * const grant = serveGrant(config, PROTOCOLS, { app: "/opt/clawpatrol", configDir });
 * grantFlags(grant); // ["--allow-read=…", "--allow-write=/etc/clawpatrol/state", …]
 * ```
 */
export function serveGrant(
  config: Config,
  protocols: readonly Protocol[],
  context: GrantContext,
): Grant {
  const { configDir } = context;
  const stateDir = resolve(configDir, config.gateway.stateDir);
  const files = config.files.map((file) => resolve(file));
  const read = unique([
    ...[context.app, configDir, ...files, stateDir, ...CA_BUNDLE_DIRS],
    ...storeGrant(config).read,
  ]);
  const warnings: string[] = [];
  let net: string[] | "all" = unique([
    config.gateway.proxyListen,
    config.gateway.adminListen,
    ...listenAddresses(config),
    ...(config.gateway.transparent ? [dnsGrant(config.gateway.transparent.dnsListen)] : []),
    // The virtual IPs, as a range (Deno takes CIDR): names under a wildcard get theirs as
    // agents ask for them. And where DNS answers go (UDP sends need a grant): isolated runs'
    // links and the tunnels' peers.
    ...(config.gateway.transparent
      ? [config.gateway.transparent.vipRange, config.gateway.transparent.linkRange]
      : []),
    ...[...config.tunnels.values()].map((t) => networkOf(t.address)),
    ...upstreams(config, protocols),
    ...approverHosts(config),
    ...tokenHosts(config),
    ...storeGrant(config).net,
    ...anchorGrant(config).net,
    ...exportGrant(config).net,
  ]);
  if (config.defaults.unknownHost === "passthrough") {
    net = "all";
    warnings.push(
      'defaults.unknown_host = "passthrough" relays agents to any host: the gateway runs with ' +
        "an open network grant",
    );
  }
  return {
    read,
    // The dashboard's rule writes land in the config's directory (a new file, or a rename over
    // an edited one), only when the config asks for them.
    write: [
      ...(config.gateway.dashboardConfigWrites ? [stateDir, configDir] : [stateDir]),
      ...anchorGrant(config).write,
      ...exportGrant(config).write,
    ],
    net,
    env: [...APP_ENV],
    run: [],
    // npm @slack/web-api names the OS release in its user agent when it loads; with a store,
    // the host name goes with the gateway id's lease, so a refused duplicate can name it.
    sys: config.gateway.store ? ["osRelease", "hostname"] : ["osRelease"],
    warnings,
  };
}

/**
 * What reaching `gateway.store` takes: its `host:port`, and its `sslrootcert` file. Nothing
 * without a store.
 *
 * @example
 * ```ts
 * storeGrant(config); // { net: ["db.internal:5432"], read: [] }
 * ```
 */
export function storeGrant(config: Config): { net: string[]; read: string[] } {
  const store = config.gateway.store;
  if (!store) return { net: [], read: [] };
  const host = store.host.includes(":") ? `[${store.host}]` : store.host;
  return { net: [`${host}:${store.port}`], read: store.sslRootCert ? [store.sslRootCert] : [] };
}

/**
 * The responder's listen address; with a port picked at start (`:0`, tests) its host alone: it
 * binds TCP on the port UDP was given, which the grant cannot name beforehand.
 */
function dnsGrant(listen: string): string {
  return listen.endsWith(":0") ? listen.slice(0, -2) : listen;
}

/** `10.78.0.1/24` as its network, `10.78.0.0/24`. */
function networkOf(address: string): string {
  const [ip, prefix] = address.split("/");
  const value = ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(prefix));
  const base = value - (value % size);
  return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join(".")}/${prefix}`;
}

function listenAddresses(config: Config): string[] {
  return [...config.endpoints.values()].flatMap((e) => e.listen ? [e.listen] : []);
}

function upstreams(config: Config, protocols: readonly Protocol[]): string[] {
  const byFamily = new Map(protocols.map((p) => [p.family, p]));
  return [...config.endpoints.values()].flatMap((e) =>
    byFamily.get(e.protocol)?.upstreams?.(e) ?? []
  );
}

/**
 * Token endpoints the gateway fetches access tokens from: an `oauth_refresh`'s `token_url`,
 * Google's for a `gcp_service_account` (a key file naming another `token_uri` needs its host in
 * an `https` endpoint's grant, or the token cannot be fetched and requests are refused), and STS
 * for an `aws_credential` that assumes a role.
 */
function tokenHosts(config: Config): string[] {
  const hosts: string[] = [];
  for (const c of config.credentials.values()) {
    if (c.kind === "gcp_service_account") hosts.push("oauth2.googleapis.com:443");
    if (c.kind === "aws_credential" && typeof c.settings.assume_role === "string") {
      // The gateway's own AssumeRole call (through an aws endpoint's upstream when it has one).
      const region = typeof c.settings.region === "string" ? c.settings.region : "us-east-1";
      hosts.push(`sts.${region}.amazonaws.com:443`);
    }
    if (c.kind !== "oauth_refresh" || typeof c.settings.token_url !== "string") continue;
    try {
      const url = new URL(c.settings.token_url);
      hosts.push(`${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`);
    } catch {
      // Config refuses a token_url that is not a URL.
    }
  }
  return hosts;
}

/** Where signed anchors of the receipts go: a file to append to, a URL to POST to. */
function anchorGrant(config: Config): { write: string[]; net: string[] } {
  const { anchorEveryMs, anchorFile, anchorUrl } = config.gateway.receipts;
  if (anchorEveryMs === null) return { write: [], net: [] };
  return {
    write: anchorFile ? [anchorFile] : [],
    net: anchorUrl ? [hostPortOf(anchorUrl)] : [],
  };
}

/** Export: the JSON-lines file's directory (rotation renames in it), the OTLP collector. */
function exportGrant(config: Config): { write: string[]; net: string[] } {
  const e = config.gateway.export;
  return {
    write: e?.jsonl && e.jsonl !== "-" ? [dirname(e.jsonl)] : [],
    net: e?.otlpUrl ? [hostPortOf(e.otlpUrl)] : [],
  };
}

/** Webhook and LLM URLs, and Slack when a human stage posts there. */
function approverHosts(config: Config): string[] {
  const hosts: string[] = [];
  for (const approver of config.approvers.values()) {
    const url = approver.kind === "webhook_approver"
      ? approver.settings.url
      : approver.kind === "llm_approver"
      ? approver.settings.base_url ?? providerUrl(approver.settings.provider)
      : undefined;
    if (typeof url === "string") hosts.push(hostPortOf(url));
    // A human stage posts to Slack only with its Slack app's tokens; else it waits for the CLI.
    if (approver.kind === "human_approver" && approver.settings.credential) {
      hosts.push(...SLACK_HOSTS);
    }
  }
  return hosts;
}

/** The hosted API an LLM approver calls when it names no `base_url`. */
function providerUrl(provider: unknown): string | undefined {
  return typeof provider === "string" && Object.hasOwn(DEFAULT_BASE_URLS, provider)
    ? DEFAULT_BASE_URLS[provider as keyof typeof DEFAULT_BASE_URLS]
    : undefined;
}

/** `host:port` of an http(s) URL, its scheme's port when it names none. */
function hostPortOf(url: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === "http:" ? "80" : "443");
  return `${u.hostname}:${port}`;
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

/**
 * The Deno flags that grant exactly `grant`, one per element, `--no-prompt` so that anything
 * outside it fails instead of asking, and `--deny-import` so no code is loaded from the network.
 */
export function grantFlags(grant: Grant): string[] {
  const flags = ["--no-prompt"];
  const list = (name: string, items: readonly string[]) => {
    // Deno's lists are comma-separated with no escape: such an entry cannot be granted alone.
    const comma = items.find((item) => item.includes(","));
    if (comma !== undefined) {
      throw new Error(`Cannot grant ${name} access to '${comma}': the path or name holds a ','`);
    }
    if (items.length > 0) flags.push(`--allow-${name}=${items.join(",")}`);
  };
  list("read", grant.read);
  list("write", grant.write);
  if (grant.net === "all") flags.push("--allow-net");
  else list("net", grant.net);
  list("env", grant.env);
  list("run", grant.run);
  list("sys", grant.sys);
  // No code from the network, ever: the app and its npm packages are on disk.
  flags.push("--deny-import");
  return flags;
}

/** How the permissions this process runs with compare with a grant. */
export interface GrantCheck {
  /** What the grant needs and the process lacks, as `read /path`, `net host:port`…. */
  uncovered: string[];
  /** Kinds granted without any scope (`deno run -A`, or a hand-written `--allow-net`). */
  unrestricted: string[];
}

/** Every permission kind Deno knows, for the unrestricted check. */
const KINDS = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;

/**
 * Compares the running process's permissions with `grant`.
 *
 * @example
 * ```ts
 * const { uncovered } = checkGrant(grant);
 * if (uncovered.length > 0) throw new Error(`missing: ${uncovered.join(", ")}`);
 * ```
 */
export function checkGrant(grant: Grant): GrantCheck {
  const granted = (descriptor: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(descriptor).state === "granted";
  const uncovered: string[] = [];
  for (const path of grant.read) {
    if (!granted({ name: "read", path })) uncovered.push(`read ${path}`);
  }
  for (const path of grant.write) {
    if (!granted({ name: "write", path })) uncovered.push(`write ${path}`);
  }
  if (grant.net === "all") {
    if (!granted({ name: "net" })) uncovered.push("net (any host)");
  } else {
    for (const host of grant.net) {
      // A wildcard is checked through a name it covers, a range through its first address.
      const probe = host.startsWith("*.")
        ? `clawpatrol-probe.${host.slice(2)}`
        : host.includes("/")
        ? host.slice(0, host.indexOf("/"))
        : host;
      if (!granted({ name: "net", host: probe })) uncovered.push(`net ${host}`);
    }
  }
  for (const variable of grant.env) {
    if (!granted({ name: "env", variable })) uncovered.push(`env ${variable}`);
  }
  const unrestricted = KINDS.filter((name) => {
    try {
      return granted({ name } as Deno.PermissionDescriptor);
    } catch {
      return false; // A kind this Deno does not know.
    }
  });
  return { uncovered, unrestricted };
}
