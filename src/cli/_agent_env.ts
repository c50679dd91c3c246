/**
 * What `env`, `run` and `kubeconfig` share: opening the agent registry from the config, reading an
 * agent's token without echoing it, checking it, and building the agent's environment (proxy, CA
 * bundle, kubeconfig, credential placeholders).
 *
 * @module
 */

import { join } from "node:path";
import { AgentRegistry } from "../agents/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import { type Config, type KubernetesEndpoint, placeholderOf } from "../config/mod.ts";
import { checkStateDir, loadAndCompile, stateDirOf } from "../gateway/mod.ts";
import { CA_CERT_FILE } from "../tls/mod.ts";
import { type GlobalOptions, UsageError } from "./_args.ts";
import { err } from "./_io.ts";
import {
  type KubeCluster,
  kubeconfigFile,
  kubeconfigYaml,
  reachableKubernetes,
  writePrivateFile,
} from "./_kubeconfig.ts";

/** Environment variable `env` and `run` read the token from when `--token` is not given. */
export const TOKEN_ENV = "CLAWPATROL_AGENT_TOKEN";

/** The combined CA bundle (system roots + gateway CA) `env` and `run` write into the state dir. */
export const CA_BUNDLE_FILE = "ca-bundle.pem";

/** System root bundles, first readable wins (Debian/Ubuntu, Fedora/RHEL, Alpine/macOS, SUSE). */
export const SYSTEM_ROOTS = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/cert.pem",
  "/etc/ssl/ca-bundle.pem",
];

/** Hosts agents reach directly: the gateway's own Postgres/Kubernetes listeners are on loopback. */
const NO_PROXY = "localhost,127.0.0.1,::1";

/** Variables that point TLS clients at the combined bundle (OpenSSL, Python, curl, git, Deno, AWS). */
const BUNDLE_VARS = [
  "SSL_CERT_FILE",
  "REQUESTS_CA_BUNDLE",
  "CURL_CA_BUNDLE",
  "GIT_SSL_CAINFO",
  "DENO_CERT",
  "AWS_CA_BUNDLE",
];

/** The config, its state directory and the agent registry in it. */
export interface OpenedAgents {
  config: Config;
  stateDir: string;
  registry: AgentRegistry;
}

/**
 * Loads the config, checks the state directory exists and is private, opens the registry.
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
  return { config, stateDir, registry: AgentRegistry.open(stateDir) };
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

/** Options for {@linkcode readToken}. */
export interface ReadTokenOptions {
  /** `--token`, when given. */
  given?: string;
  /** Read one line from stdin when it is not a terminal (`env`; never `run`: stdin is the child's). */
  fromStdin: boolean;
  /**
   * Read stdin before looking at `$CLAWPATROL_AGENT_TOKEN` (`kubeconfig --token-stdin`, an
   * explicit choice); a terminal still gets the prompt that does not echo.
   * @default {false}
   */
  stdinFirst?: boolean;
  /**
   * How to supply a token, for the error when there is none and no terminal to prompt on.
   * @default {"pass --token or set CLAWPATROL_AGENT_TOKEN"}
   */
  howToPass?: string;
}

/**
 * The agent's token: `--token`, else `$CLAWPATROL_AGENT_TOKEN`, else one line of stdin when it is
 * not a terminal (if allowed), else a prompt on the terminal that does not echo. `null` when the
 * prompt was interrupted (Ctrl-C). An empty token is a usage error.
 *
 * @example
 * ```ts
 * const token = await readToken("oncall-bot", { given: values.token, fromStdin: false });
 * ```
 */
export async function readToken(agent: string, options: ReadTokenOptions): Promise<string | null> {
  let token = options.given ??
    (options.stdinFirst ? undefined : Deno.env.get(TOKEN_ENV) || undefined);
  if (token === undefined) {
    if (!Deno.stdin.isTerminal()) {
      if (!options.fromStdin && !options.stdinFirst) {
        const how = options.howToPass ?? `pass --token or set ${TOKEN_ENV}`;
        throw new UsageError(
          `no token for agent '${agent}': ${how} (stdin is not a terminal to prompt on)`,
        );
      }
      token = await readLine();
    } else {
      const typed = await promptNoEcho(`Token for agent '${agent}': `);
      if (typed === null) return null;
      token = typed;
    }
  }
  token = token.trim();
  if (token === "") throw new UsageError(`empty token for agent '${agent}'`);
  return token;
}

/** One line of stdin, read byte by byte so nothing past the newline is consumed. */
async function readLine(): Promise<string> {
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  while (bytes.length < 4096) {
    const n = await Deno.stdin.read(buf);
    if (n === null || buf[0] === 0x0a) break;
    if (n === 1) bytes.push(buf[0]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Reads a line from the terminal in raw mode, echoing nothing; `null` on Ctrl-C. */
async function promptNoEcho(prompt: string): Promise<string | null> {
  const encoder = new TextEncoder();
  Deno.stderr.writeSync(encoder.encode(prompt));
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  Deno.stdin.setRaw(true);
  try {
    while (bytes.length < 4096) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const b = buf[0];
      if (b === 0x0d || b === 0x0a) break;
      if (b === 0x03) return null; // Ctrl-C
      if (b === 0x04) { // Ctrl-D
        if (bytes.length === 0) break;
        continue;
      }
      if (b === 0x7f || b === 0x08) bytes.pop();
      else if (b === 0x15) bytes.length = 0; // Ctrl-U
      else bytes.push(b);
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * The agent's facts when `token` is its current token; otherwise throws an error saying why
 * (unknown, revoked, or the token does not match), never repeating the token.
 *
 * @example
 * ```ts
 * const agent = authenticateAgent(registry, "oncall-bot", token);
 * ```
 */
export function authenticateAgent(
  registry: AgentRegistry,
  name: string,
  token: string,
): AgentFacts {
  const agent = registry.authenticate(name, token);
  if (agent) return agent;
  const record = registry.list().find((r) => r.name === name);
  if (!record) throw new Error(`Unknown agent '${name}': see 'clawpatrol agent list'`);
  if (record.revokedAt !== null) {
    throw new Error(`Agent '${name}' is revoked (since ${record.revokedAt})`);
  }
  throw new Error(`Token does not match agent '${name}'`);
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
  await writePrivateFile(path, kubeconfigYaml(clusters, { agent: agent.name, token, caPem }));
  return path;
}

/**
 * The agent's environment, in output order: identity, proxy, CA trust, `KUBECONFIG` when its
 * profile reaches a kubernetes endpoint, then one placeholder per credential of its profile that
 * sets `env`. Writes `state_dir/ca-bundle.pem` (and `state_dir/kubeconfig-<agent>.yaml`) on the
 * way.
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
  const noProxy = noProxyFor(kubernetes);
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
  ];
  if (kubernetes.length > 0) {
    vars.push([
      "KUBECONFIG",
      await writeAgentKubeconfig(opened, agent, token, { endpoints: kubernetes }),
    ]);
  }
  const taken = new Set(vars.map(([name]) => name));
  for (const key of profile.credentials) {
    const credential = config.credentials.get(key);
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
 * `NO_PROXY` plus the hosts of the gateway's Kubernetes listeners that are not loopback: kubectl
 * honours `HTTPS_PROXY`, and a listener must be dialled directly, not tunnelled to.
 */
function noProxyFor(endpoints: KubernetesEndpoint[]): string {
  const hosts = NO_PROXY.split(",");
  for (const e of endpoints) {
    if (e.listen === undefined) continue;
    const address = proxyAddress(e.listen);
    const host = address.slice(0, address.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
    if (!hosts.includes(host)) hosts.push(host);
  }
  return hosts.join(",");
}

/** The gateway CA (PEM), or an error saying to run `init` when it is missing. */
async function readGatewayCa(caPath: string): Promise<string> {
  try {
    return await Deno.readTextFile(caPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Gateway CA '${caPath}' is missing: run 'clawpatrol init'`);
    }
    throw e;
  }
}

/**
 * Writes system roots + the gateway CA to `state_dir/ca-bundle.pem` (0644, atomically: a tool
 * starting meanwhile never reads half a bundle) and returns its path.
 */
async function writeCaBundle(stateDir: string, caPath: string): Promise<string> {
  const gatewayCa = await readGatewayCa(caPath);
  let roots = "";
  for (const path of SYSTEM_ROOTS) {
    try {
      const text = await Deno.readTextFile(path);
      if (text.includes("-----BEGIN CERTIFICATE-----")) {
        roots = text;
        break;
      }
    } catch {
      // Absent, unreadable, or outside what this process may read: try the next one.
    }
  }
  if (roots === "") {
    err(
      `Warning: no system CA bundle found (looked for ${
        SYSTEM_ROOTS.join(", ")
      }): the bundle holds the gateway CA alone`,
    );
  }
  const text = (roots && !roots.endsWith("\n") ? roots + "\n" : roots) + gatewayCa;
  const bundlePath = join(stateDir, CA_BUNDLE_FILE);
  const tmp = `${bundlePath}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o644 });
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, bundlePath);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return bundlePath;
}
