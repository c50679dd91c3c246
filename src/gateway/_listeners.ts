/**
 * Starting the agent-facing listeners: the forward proxy (one listener for every https
 * endpoint, by host, on `gateway.proxy_listen`), and the opener of the endpoint listeners (one
 * per endpoint with `listen`, of every protocol that declares `listen`; `_listener_set.ts` keeps
 * them in line with the config). Each protocol gets the same protocol-agnostic services; they
 * read the config in force through getters, so a reload applies to the next action. A listen
 * that fails names its setting, its `file:line` and what to do.
 *
 * @module
 */

import { AdminListenError } from "./_admin_server.ts";
import {
  type Endpoint,
  type Health,
  type HeldCredential,
  type ListenerHooks,
  type NetServices,
  type Protocol,
  type ProtocolFamily,
  type ProtocolListener,
  type ProtocolServices,
  splitHostPort,
} from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import type { Policy } from "../policy/mod.ts";
import type { AgentRegistry } from "../agents/mod.ts";
import type { LeafCache } from "../tls/mod.ts";
import { HttpProxy, type HttpProxyContext, type HttpProxyLimits } from "../protocols/http/mod.ts";
import type { Guard } from "../pipeline/mod.ts";
import { acceptFailureText } from "../net/mod.ts";
import type { Logger } from "./log.ts";
import type { GatewayMetrics } from "./_metrics.ts";
import type { HttpRoutes } from "./_routes.ts";
import type { HttpCredentials } from "./_http_credentials.ts";
import type { SecretCache } from "./_secrets.ts";

export { splitHostPort };

/** A per-endpoint listener and the family it serves. */
export interface StartedListener {
  family: ProtocolFamily;
  listener: ProtocolListener;
}

/** What the listeners share; getters return what is in force now. */
export interface ListenerDeps {
  guard: Guard;
  /** Where listeners report problems (accept backing off) for `/healthz`. */
  health: Health;
  agents: AgentRegistry;
  leaves: LeafCache;
  /** Listening, accepting and agent-side TLS, for every protocol. */
  net: NetServices;
  log: Logger;
  metrics: GatewayMetrics;
  secrets: SecretCache;
  config(): Config;
  policy(): Policy;
  routes(): HttpRoutes;
  credentials(): HttpCredentials;
}

/** Starts the forward proxy on `gateway.proxy_listen`. */
export async function startProxy(deps: ListenerDeps): Promise<HttpProxy> {
  const context: HttpProxyContext = {
    guard: deps.guard,
    authenticate: (name, token) => deps.agents.authenticate(name, token),
    reauthenticate: (agent, name, token) => deps.agents.reauthenticate(agent, name, token),
    route: (agent, host, port) => deps.routes().route(agent, host, port),
    leaf: (host) => deps.leaves.get(host),
    net: deps.net,
    limits: () => httpLimits(deps.config()),
    log: (level, message, fields) => deps.log.log(level, message, fields),
    credentials: (agent, endpoint, request) => deps.credentials().use(agent, endpoint, request),
    connections: (delta) => deps.metrics.connections.inc({ protocol: "https" }, delta),
    upstreamFailed: ({ protocol, endpoint, cause }) =>
      deps.metrics.upstreamFailures.inc({ protocol, endpoint: endpoint ?? "", cause }),
    upstreamRetried: ({ endpoint, cause }) =>
      deps.metrics.upstreamRetries.inc({ endpoint: endpoint ?? "", cause }),
    listenerHooks: () => listenerHooks(deps, "https", "proxy"),
    agentStanding: (agent) => deps.agents.standing(agent),
    sessionEnded: (cause) => deps.metrics.sessionsEnded.inc({ protocol: "https", cause }),
  };
  const config = deps.config();
  const [host, port] = splitHostPort(config.gateway.proxyListen);
  try {
    return await HttpProxy.listen(host, port, context);
  } catch (err) {
    throw listenFailed(gatewayListenSetting(config, "proxy_listen"), err);
  }
}

/** Opens the listener of one endpoint whose protocol declares `listen`. */
export type OpenListener = (protocol: Protocol, endpoint: Endpoint) => Promise<ProtocolListener>;

/**
 * Opens endpoint listeners with the services of their family. One services object per family
 * for the gateway's life, so listeners opened by a reload share what the first ones share (the
 * PostgreSQL listeners' SQL analyzer and its caches).
 */
export function endpointListenerOpener(deps: ListenerDeps): OpenListener {
  return (protocol, endpoint) => {
    if (!protocol.listen) {
      return Promise.reject(new TypeError(`Protocol '${protocol.family}' has no listener`));
    }
    return protocol.listen(endpoint, servicesOf(deps, protocol.family));
  };
}

/** The services of each family, per gateway (its `deps`). */
const familyServices = new WeakMap<ListenerDeps, Map<ProtocolFamily, ProtocolServices>>();

/**
 * The one services object of `family` for the gateway `deps` belongs to: its endpoint listeners
 * and its interceptor share it (and what hangs off it, such as the SQL analyzer's caches).
 */
export function servicesOf(deps: ListenerDeps, family: ProtocolFamily): ProtocolServices {
  let byFamily = familyServices.get(deps);
  if (!byFamily) familyServices.set(deps, byFamily = new Map());
  let services = byFamily.get(family);
  if (!services) byFamily.set(family, services = protocolServices(deps, family));
  return services;
}

/** The services every listener of `family` gets, its metric labels filled in. */
function protocolServices(deps: ListenerDeps, family: string): ProtocolServices {
  const { metrics } = deps;
  return {
    guard: deps.guard,
    agents: deps.agents,
    leaf: (host) => deps.leaves.get(host),
    net: deps.net,
    limits: () => deps.config().gateway.limits,
    log: (level, message, fields) => deps.log.log(level, message, fields),
    metrics: {
      connections: (delta) => metrics.connections.inc({ protocol: family }, delta),
      sessionEnded: (cause) => metrics.sessionsEnded.inc({ protocol: family, cause }),
      upstreamFailed: ({ protocol, endpoint, cause }) =>
        metrics.upstreamFailures.inc({ protocol, endpoint: endpoint ?? "", cause }),
      upstreamRetried: ({ endpoint, cause }) =>
        metrics.upstreamRetries.inc({ endpoint: endpoint ?? "", cause }),
    },
    listenerHooks: (endpoint) => listenerHooks(deps, family, endpoint),
    endpoint: (name) => deps.config().endpoints.get(name),
    reaches: (agent, endpoint) => deps.routes().reaches(agent, endpoint),
    reads: (endpoint, field) => deps.policy().reads(endpoint, field),
    heldCredentials: (agent, endpoint, kind) =>
      heldCredentials(deps.config(), agent, endpoint, kind),
    secret: (name) => deps.secrets.get(name),
    injectHttp: (agent, endpoint, request) => deps.credentials().use(agent, endpoint, request),
  };
}

/** Credentials of `kind` the agent's profile holds on `endpoint`, in profile order. */
function heldCredentials(
  config: Config,
  agent: { profile: string },
  endpoint: string,
  kind: string,
): HeldCredential[] {
  const held: HeldCredential[] = [];
  for (const ref of config.profiles.get(agent.profile)?.credentials ?? []) {
    const c = config.credentials.get(ref);
    if (c?.kind !== kind || !c.endpoints.includes(endpoint)) continue;
    held.push({ ref, name: c.name, kind: c.kind, settings: c.settings });
  }
  return held;
}

/**
 * Ends the open sessions of an agent revoked or rotated (by the CLI, from another process)
 * whenever the agents file changes: sessions on per-endpoint listeners never authenticate
 * again by themselves. `listeners` is read at each change. Returns the function that stops
 * watching.
 */
export function watchAgents(
  deps: ListenerDeps,
  listeners: () => Iterable<{ listener: { endRevokedSessions(): void } }>,
): () => void {
  return deps.agents.watch(() => {
    // The listeners running now (a reload opens and closes them), the forward proxy among them.
    for (const { listener } of listeners()) listener.endRevokedSessions();
  });
}

/**
 * One listener's caps (`gateway.limits`, read per connection) and reports: refusals and failed
 * accepts counted; a burst of failed accepts logged once and shown on `/healthz` while it lasts.
 */
export function listenerHooks(
  deps: ListenerDeps,
  protocol: string,
  name: string,
): ListenerHooks {
  const component = `accept:${protocol}:${name}`;
  return {
    limits: () => deps.config().gateway.limits,
    refused: (cause) => deps.metrics.connectionsRefused.inc({ protocol, cause }),
    acceptFailed: (cause) => deps.metrics.acceptErrors.inc({ protocol, cause }),
    acceptStalled: (cause) => {
      deps.health.set(component, "degraded", acceptFailureText(cause));
      deps.log.log("warn", `${protocol} listener ${name} ${acceptFailureText(cause)}: retrying`);
    },
    acceptRecovered: ({ failures, durationMs }, closing) => {
      deps.health.clear(component);
      const after = `${failures} failed accepts in ${durationMs} ms`;
      if (!closing) {
        deps.log.log("info", `${protocol} listener ${name} accepts again after ${after}`);
      }
    },
  };
}

function httpLimits(config: Config): HttpProxyLimits {
  const l = config.gateway.limits;
  return {
    bodyBufferBytes: l.bodyBufferBytes,
    headerTimeoutMs: l.headerTimeoutMs,
    idleTimeoutMs: l.idleTimeoutMs,
    upstreamTimeoutMs: l.upstreamTimeoutMs,
  };
}

/** A listen address as the operator set it: what to call it, and where to change it. */
export interface ListenSetting {
  /** As messages name it: `gateway.proxy_listen`, `endpoint "kubernetes" "k8s" listen`. */
  name: string;
  /** The attribute to edit: `proxy_listen`, `listen`. */
  attribute: string;
  /** Its value, `host:port`. */
  address: string;
  /** `file:line` of the attribute (or its block); `null` when it is not set (a default). */
  line: string | null;
  /** The file to set it in when `line` is `null`. */
  file: string;
}

/** An endpoint's `listen`, located at its attribute's line (its block's when not found). */
export function endpointListenSetting(endpoint: Endpoint): ListenSetting {
  const { file, line } = endpoint.source;
  return {
    name: `endpoint "${endpoint.protocol}" "${endpoint.name}" listen`,
    attribute: "listen",
    address: endpoint.listen ?? "",
    line: `${file}:${attributeLine(file, line, "listen") ?? line}`,
    file,
  };
}

/** `gateway.proxy_listen` or `gateway.admin_listen`, located in the config's files. */
export function gatewayListenSetting(
  config: Config,
  attribute: "proxy_listen" | "admin_listen",
): ListenSetting {
  const address = attribute === "proxy_listen"
    ? config.gateway.proxyListen
    : config.gateway.adminListen;
  const name = `gateway.${attribute}`;
  for (const file of config.files) {
    const line = attributeLine(file, 1, attribute, false);
    if (line !== undefined) return { name, attribute, address, line: `${file}:${line}`, file };
  }
  return { name, attribute, address, line: null, file: config.files[0] ?? config.path };
}

/**
 * The bare OS error ("Address already in use") does not say which setting to change, nor
 * where: the message names the setting, its value, its `file:line` and what to do.
 *
 * @example
 * ```ts
 * listenFailed(endpointListenSetting(endpoint), err).message;
 * // Cannot listen on endpoint "kubernetes" "k8s" listen '127.0.0.1:16443': Address already in
 * // use (os error 98): change listen in gateway.hcl:12, or stop what listens on port 16443
 * ```
 */
export function listenFailed(setting: ListenSetting, err: unknown): Error {
  const { name, address } = setting;
  const message = (err as Error)?.message ?? String(err);
  return new Error(
    `Cannot listen on ${name} '${address}': ${message}: ${listenFix(setting, err)}`,
    {
      cause: err,
    },
  );
}

/**
 * The admin server (`_admin_server.ts`) names `gateway.admin_listen` when it cannot listen;
 * this adds where to change it, as for the other listen settings. Other errors pass as they are.
 */
export function adminListenFailed(err: unknown, config: Config): unknown {
  if (!(err instanceof AdminListenError) || err.cause === undefined) return err;
  return listenFailed(gatewayListenSetting(config, "admin_listen"), err.cause);
}

/** What the operator can do about a listen failure. */
function listenFix(setting: ListenSetting, err: unknown): string {
  const { attribute, line, file } = setting;
  const change = line === null
    ? `set ${attribute} in the gateway block of ${file}`
    : `change ${attribute} in ${line}`;
  const port = splitHostPort(setting.address)[1];
  if (err instanceof Deno.errors.AddrInUse) {
    return `${change}, or stop what listens on port ${port}`;
  }
  if (err instanceof Deno.errors.NotCapable) {
    return `the gateway's permissions do not cover it: restart it with the clawpatrol launcher, or ${change}`;
  }
  if (err instanceof Deno.errors.PermissionDenied && port < 1024) {
    return `${change} to a port above 1023, or grant the gateway CAP_NET_BIND_SERVICE`;
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return `${change} to an address of this host`;
  }
  return change;
}

/**
 * The line of `attribute = …` in `file`, from the block header at `from` to the end of that
 * block (`inBlock`) or of the file. Read only to word an error; `undefined` when not found.
 */
function attributeLine(
  file: string,
  from: number,
  attribute: string,
  inBlock = true,
): number | undefined {
  let lines: string[];
  try {
    lines = Deno.readTextFileSync(file).split("\n");
  } catch {
    return undefined;
  }
  const assigns = new RegExp(`(^|[\\s{;])${attribute}\\s*=`);
  for (let i = Math.max(from - 1, 0); i < lines.length; i++) {
    const text = lines[i].replace(/^\s*(#|\/\/).*$/, "");
    if (assigns.test(text)) return i + 1;
    // The block ends at its closing brace in the first column (as formatted HCL writes it);
    // an attribute of the same name further down belongs to another block.
    if (inBlock && i >= from && /^[}\w]/.test(lines[i])) return undefined;
  }
  return undefined;
}
