/**
 * Starting the agent-facing listeners: the forward proxy (one listener for every https
 * endpoint, by host, on `gateway.proxy_listen`), and one listener per endpoint with `listen`
 * of every registered protocol that declares `listen`. Each protocol gets the same
 * protocol-agnostic services; they read the config in force through getters, so a reload
 * applies to the next action.
 *
 * @module
 */

import {
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
  };
  const listen = deps.config().gateway.proxyListen;
  const [host, port] = splitHostPort(listen);
  try {
    return await HttpProxy.listen(host, port, context);
  } catch (err) {
    throw listenFailed("gateway.proxy_listen", listen, err);
  }
}

/**
 * Starts one listener per endpoint that sets `listen`, for every protocol that declares
 * `listen`: families in registry order, endpoints in config order. On a failure the listeners
 * already started are closed.
 */
export async function startEndpointListeners(
  deps: ListenerDeps,
  protocols: readonly Protocol[],
): Promise<StartedListener[]> {
  const listeners: StartedListener[] = [];
  try {
    for (const protocol of protocols) {
      if (!protocol.listen) continue;
      const endpoints = [...deps.config().endpoints.values()].filter((e) =>
        e.protocol === protocol.family && e.listen
      );
      if (endpoints.length === 0) continue;
      const services = protocolServices(deps, protocol.family);
      for (const endpoint of endpoints) {
        try {
          const listener = await protocol.listen(endpoint, services);
          listeners.push({ family: protocol.family, listener });
        } catch (err) {
          const setting = `endpoint "${protocol.family}" "${endpoint.name}" listen`;
          throw listenFailed(setting, endpoint.listen!, err);
        }
      }
    }
  } catch (err) {
    await Promise.all(listeners.map(({ listener }) => listener.close()));
    throw err;
  }
  return listeners;
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
 * again by themselves. Returns the function that stops watching.
 */
export function watchAgents(
  deps: ListenerDeps,
  listeners: readonly StartedListener[],
): () => void {
  return deps.agents.watch(() => {
    for (const { listener } of listeners) listener.endRevokedSessions();
  });
}

/**
 * One listener's caps (`gateway.limits`, read per connection) and reports: refusals and failed
 * accepts counted; a burst of failed accepts logged once and shown on `/healthz` while it lasts.
 */
function listenerHooks(deps: ListenerDeps, protocol: string, name: string): ListenerHooks {
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

/** The bare OS error ("Address already in use") does not say which setting to change. */
function listenFailed(setting: string, listen: string, err: unknown): Error {
  return new Error(`Cannot listen on ${setting} '${listen}': ${(err as Error).message}`, {
    cause: err,
  });
}
