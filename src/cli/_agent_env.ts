/**
 * What `env`, `run` and `kubeconfig` share: opening the agent registry from the config, where the
 * agent reaches the gateway, and building the agent's environment (proxy, CA bundle, kubeconfig,
 * credential placeholders). Reading and checking the agent's token is in `_agent_token.ts`.
 *
 * @module
 */

import { join } from "node:path";
import type { AgentRegistry } from "../agents/mod.ts";
import { type Config, placeholderOf, type Profile } from "../config/mod.ts";
import { type AgentFacts, splitHostPort, writeFileAtomic } from "../core/mod.ts";
import {
  type AgentAdmin,
  checkStateDir,
  loadAndCompile,
  openAgentDirectory,
  stateDirOf,
} from "../gateway/mod.ts";
import type { KubernetesEndpoint } from "../protocols/kubernetes/mod.ts";
import { awsPlaceholderKeyId } from "../protocols/aws/mod.ts";
import { CA_CERT_FILE } from "../tls/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import type { GlobalOptions } from "./_args.ts";
import { type AgentListener, agentListeners } from "./_agent_listeners.ts";
import { readGatewayCa, writeCaBundle } from "./_ca_bundle.ts";
import { err } from "./_io.ts";
import {
  type KubeCluster,
  kubeconfigFile,
  kubeconfigYaml,
  reachableKubernetes,
  writePrivateFile,
} from "./_kubeconfig.ts";

/** Hosts agents reach directly: the gateway's own PostgreSQL/Kubernetes listeners are on loopback. */
const NO_PROXY = "localhost,127.0.0.1,::1";

/**
 * Variables that point TLS clients at the combined bundle (OpenSSL, Python, curl, git, Deno, AWS,
 * npm). npm's `cafile` replaces its roots rather than adding to them, hence the whole bundle.
 */
export const BUNDLE_VARS = [
  "SSL_CERT_FILE",
  "REQUESTS_CA_BUNDLE",
  "CURL_CA_BUNDLE",
  "GIT_SSL_CAINFO",
  "DENO_CERT",
  "AWS_CA_BUNDLE",
  "NPM_CONFIG_CAFILE",
];

/** The wgetrc `env` and `run` write into the state directory for `WGETRC`. */
export const WGETRC_FILE = "wgetrc";

/** The config, its state directory and the agents (in it, or in `gateway.store`). */
export interface OpenedAgents {
  config: Config;
  stateDir: string;
  registry: AgentRegistry;
  /** Enrols, revokes and rotates where the agents live. */
  admin: AgentAdmin;
  /** Ends the store's connections, if any. */
  close(): Promise<void>;
}

/**
 * Loads the config, checks the state directory exists and is private, opens the registry (with
 * `gateway.store`, from the store).
 *
 * @example
 * ```ts
 * const { config, registry } = await openAgents(global);
 * ```
 */
export async function openAgents(global: GlobalOptions): Promise<OpenedAgents> {
  const { config } = await loadAndCompile(global.config);
  const stateDir = await stateDirOf(config);
  await checkStateDir(stateDir);
  return { config, stateDir, ...await openAgentDirectory(config, stateDir) };
}

/**
 * Quotes `value` for a POSIX shell: single quotes, each `'` as `'\''`.
 *
 * @example
 * ```ts
 * shellQuote("it's"); // 'it'\''s'
 * ```
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Where agents reach the proxy: `gateway.proxy_listen`, with a wildcard bind address
 * (`0.0.0.0`, `::`) replaced by `127.0.0.1`.
 *
 * @example
 * ```ts
 * proxyAddress("0.0.0.0:8080"); // "127.0.0.1:8080"
 * ```
 */
export function proxyAddress(listen: string): string {
  const at = listen.lastIndexOf(":");
  let host = listen.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  if (host === "" || host === "0.0.0.0" || host === "::") host = "127.0.0.1";
  return `${host.includes(":") ? `[${host}]` : host}:${listen.slice(at + 1)}`;
}

/**
 * The gateway's forward proxy as the agent reaches it, with its proxy credentials:
 * `http://NAME:TOKEN@HOST:PORT`.
 *
 * @example
 * ```ts
 * agentProxyUrl(config, "oncall-bot", token); // "http://oncall-bot:cpat_…@127.0.0.1:8080"
 * ```
 */
export function agentProxyUrl(config: Config, agent: string, token: string): string {
  return `http://${encodeURIComponent(agent)}:${encodeURIComponent(token)}@${
    proxyAddress(config.gateway.proxyListen)
  }`;
}

/**
 * The clusters of the agent's kubeconfig, one per endpoint: an endpoint with `listen` is the
 * gateway's Kubernetes listener there (which checks the agent's bearer token); one without is its
 * real `server`, reached by CONNECT through the forward proxy with the agent's proxy credentials.
 * Either way the gateway terminates TLS, so the gateway CA is what kubectl must trust.
 *
 * @example
 * ```ts
 * kubeClusters(config, endpoints, "oncall-bot", token);
 * // [{ endpoint: "k8s-prod", server: "https://127.0.0.1:16443" }, …]
 * ```
 */
export function kubeClusters(
  config: Config,
  endpoints: KubernetesEndpoint[],
  agent: string,
  token: string,
): KubeCluster[] {
  return endpoints.map((e) =>
    e.listen !== undefined
      ? { endpoint: e.name, server: `https://${proxyAddress(e.listen)}` }
      : { endpoint: e.name, server: e.server, proxyUrl: agentProxyUrl(config, agent, token) }
  );
}

/** Options for {@linkcode writeAgentKubeconfig}. */
export interface WriteAgentKubeconfigOptions {
  /** The kubernetes endpoints to include, the first as current context. */
  endpoints: KubernetesEndpoint[];
  /** Where to write. @default {state_dir/kubeconfig-<agent>.yaml} */
  path?: string;
}

/**
 * Writes the agent's kubeconfig (0600: it holds the token) and returns its path.
 *
 * @example
 * ```ts
 * const path = await writeAgentKubeconfig(opened, agent, token, { endpoints });
 * ```
 */
export async function writeAgentKubeconfig(
  opened: OpenedAgents,
  agent: AgentFacts,
  token: string,
  options: WriteAgentKubeconfigOptions,
): Promise<string> {
  const { config, stateDir } = opened;
  const caPem = await readGatewayCa(join(stateDir, CA_CERT_FILE));
  const path = options.path ?? kubeconfigFile(stateDir, agent.name);
  const clusters = kubeClusters(config, options.endpoints, agent.name, token);
  await writePrivateFile(path, await kubeconfigYaml(clusters, { agent: agent.name, token, caPem }));
  return path;
}

/**
 * The agent's environment, in output order: identity, proxy, CA trust, `KUBECONFIG` when its
 * profile reaches a kubernetes endpoint, libpq's `PG*` for the first PostgreSQL credential of its
 * profile (see `_agent_pg_env.ts`; `PGPASSWORD` is the token, as the proxy URL carries it), then
 * one placeholder per credential of its profile that sets `env`. Writes `state_dir/ca-bundle.pem`,
 * `state_dir/wgetrc` (and `state_dir/kubeconfig-<agent>.yaml`) on the way.
 *
 * @example
 * ```ts
 * for (const [name, value] of await agentEnvironment(opened, agent, token)) {
 *   out(`export ${name}=${shellQuote(value)}`);
 * }
 * ```
 */
export async function agentEnvironment(
  opened: OpenedAgents,
  agent: AgentFacts,
  token: string,
): Promise<[string, string][]> {
  const { config, stateDir } = opened;
  const profile = config.profiles.get(agent.profile);
  if (!profile) {
    throw new Error(
      `Agent '${agent.name}' has profile '${agent.profile}', which the config no longer defines`,
    );
  }
  const caPath = join(stateDir, CA_CERT_FILE);
  const bundlePath = await writeCaBundle(stateDir, caPath);
  const proxy = agentProxyUrl(config, agent.name, token);
  const kubernetes = reachableKubernetes(config, profile);
  const listeners = agentListeners(config, profile, PROTOCOLS);
  const noProxy = noProxyFor([
    ...kubernetes.flatMap((e) => e.listen ?? []),
    ...listeners.map(({ endpoint }) => endpoint.listen!),
  ]);
  const wgetrc = await writeWgetrc(stateDir, bundlePath);
  const vars: [string, string][] = [
    ["CLAWPATROL_AGENT", agent.name],
    // curl reads only the lowercase http_proxy; other tools prefer the uppercase names.
    ["HTTPS_PROXY", proxy],
    ["HTTP_PROXY", proxy],
    ["https_proxy", proxy],
    ["http_proxy", proxy],
    ["NO_PROXY", noProxy],
    ["no_proxy", noProxy],
    ...BUNDLE_VARS.map((name): [string, string] => [name, bundlePath]),
    // Node adds these to its built-in roots rather than replacing them: the gateway CA alone.
    ["NODE_EXTRA_CA_CERTS", caPath],
    // Node 24+ (and 22.21+) route fetch and http through HTTP(S)_PROXY, minding NO_PROXY, only
    // with this set; older Node ignores it.
    ["NODE_USE_ENV_PROXY", "1"],
    // wget reads no CA variable (Debian's, built with GnuTLS, ignores SSL_CERT_FILE): a wgetrc
    // names the bundle. wget then reads it instead of ~/.wgetrc (/etc/wgetrc still applies).
    ...(wgetrc === undefined ? [] : [["WGETRC", wgetrc] as [string, string]]),
  ];
  if (kubernetes.length > 0) {
    vars.push([
      "KUBECONFIG",
      await writeAgentKubeconfig(opened, agent, token, { endpoints: kubernetes }),
    ]);
  }
  // Each family's variables name one login (libpq's `PG*`): the profile's first of the family.
  const families = new Set<string>();
  for (const listener of listeners) {
    if (families.has(listener.protocol.family)) continue;
    families.add(listener.protocol.family);
    vars.push(...listenerEnvironment(listener, token, caPath));
  }
  return placeholderVariables(config, profile, vars);
}

/**
 * `vars` followed by one placeholder per credential of `profile` that sets `env` (a name already
 * in `vars`, or not a variable name, is skipped with a warning).
 */
export function placeholderVariables(
  config: Config,
  profile: Profile,
  vars: [string, string][],
): [string, string][] {
  const taken = new Set(vars.map(([name]) => name));
  for (const key of profile.credentials) {
    const credential = config.credentials.get(key);
    // The AWS CLI and SDKs sign with this pair; the gateway re-signs with the real key. Only
    // the profile's first aws_credential can own the standard names.
    if (credential?.kind === "aws_credential" && !taken.has("AWS_ACCESS_KEY_ID")) {
      vars.push(
        ["AWS_ACCESS_KEY_ID", awsPlaceholderKeyId(credential.name, credential.settings)],
        ["AWS_SECRET_ACCESS_KEY", placeholderOf(credential)],
      );
      taken.add("AWS_ACCESS_KEY_ID");
      taken.add("AWS_SECRET_ACCESS_KEY");
    }
    const name = credential?.settings.env;
    if (!credential || typeof name !== "string") continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || taken.has(name)) {
      err(
        `Warning: credential '${key}' sets env = "${name}", ${
          taken.has(name) ? "which is already set" : "which is not a variable name"
        }: skipped`,
      );
      continue;
    }
    vars.push([name, placeholderOf(credential)]);
    taken.add(name);
  }
  return vars;
}

/**
 * `NO_PROXY` plus the hosts of the gateway's Kubernetes and PostgreSQL listeners (their `listen`
 * addresses) that are not loopback: kubectl honours `HTTPS_PROXY`, and a listener must be dialled
 * directly, not tunnelled to.
 */
function noProxyFor(listens: string[]): string {
  const hosts = NO_PROXY.split(",");
  for (const listen of listens) {
    const [host] = splitHostPort(proxyAddress(listen));
    if (!hosts.includes(host)) hosts.push(host);
  }
  return hosts.join(",");
}

/**
 * Writes `state_dir/wgetrc` (0644, atomically) with `ca_certificate` = the bundle and returns its
 * path; `undefined` (with a warning) when the bundle's path holds a line break a wgetrc cannot
 * carry.
 */
export async function writeWgetrc(
  stateDir: string,
  bundlePath: string,
): Promise<string | undefined> {
  if (/[\r\n]/.test(bundlePath)) {
    err(`Warning: the CA bundle's path holds a line break: WGETRC not set`);
    return undefined;
  }
  const path = join(stateDir, WGETRC_FILE);
  const text =
    "# Written by clawpatrol env/run: wget trusts the gateway CA (and the system roots).\n" +
    `ca_certificate = ${bundlePath}\n`;
  await writeFileAtomic(path, new TextEncoder().encode(text), { mode: 0o644 });
  return path;
}

/** The variables `listener`'s protocol gives an agent to reach it directly. */
function listenerEnvironment(
  { protocol, endpoint, credential }: AgentListener,
  token: string,
  caPath: string,
): [string, string][] {
  return protocol.agentEnvironment!(endpoint, credential, {
    token,
    caPath,
    address: proxyAddress(endpoint.listen!),
    warn: (message) => err(`Warning: ${message}`),
  });
}
