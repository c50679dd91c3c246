/**
 * Starting the agent-facing listeners (forward proxy, one per Postgres endpoint, one per
 * Kubernetes endpoint with `listen`), each with the narrow context its protocol gets. Contexts
 * read the config in force through getters, so a reload applies to the next action.
 *
 * @module
 */

import { acceptFailureText, type Health, type ListenerHooks } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import type { AgentRegistry } from "../agents/mod.ts";
import type { LeafCache } from "../tls/mod.ts";
import { HttpProxy, type HttpProxyContext, type HttpProxyLimits } from "../protocols/http/mod.ts";
import {
  loadSqlParser,
  type PostgresContext,
  PostgresListener,
  SqlAnalyzer,
} from "../protocols/postgres/mod.ts";
import { type KubernetesContext, KubernetesListener } from "../protocols/kubernetes/mod.ts";
import type { Guard } from "../pipeline/mod.ts";
import type { Logger } from "./log.ts";
import type { GatewayMetrics } from "./_metrics.ts";
import type { HttpRoutes } from "./_routes.ts";
import type { HttpCredentials } from "./_http_credentials.ts";
import type { PostgresLogins } from "./_pg_logins.ts";

/** What the listeners share; getters return what is in force now. */
export interface ListenerDeps {
  guard: Guard;
  /** Where listeners report problems (accept backing off) for `/healthz`. */
  health: Health;
  agents: AgentRegistry;
  leaves: LeafCache;
  log: Logger;
  metrics: GatewayMetrics;
  config(): Config;
  routes(): HttpRoutes;
  credentials(): HttpCredentials;
  postgres(): PostgresLogins;
}

/** Starts the forward proxy on `gateway.proxy_listen`. */
export async function startProxy(deps: ListenerDeps): Promise<HttpProxy> {
  const context: HttpProxyContext = {
    guard: deps.guard,
    authenticate: (name, token) => deps.agents.authenticate(name, token),
    route: (agent, host, port) => deps.routes().route(agent, host, port),
    leaf: (host) => deps.leaves.get(host),
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

/** Starts one listener per Postgres endpoint (none: the SQL parser is not even loaded). */
export async function startPostgres(deps: ListenerDeps): Promise<PostgresListener[]> {
  const endpoints = deps.postgres().endpoints();
  if (endpoints.length === 0) return [];
  // The parser is WASM: loaded once, only when some endpoint needs it.
  await loadSqlParser();
  const analyzer = new SqlAnalyzer();
  const context: PostgresContext = {
    guard: deps.guard,
    authenticate: (token) => deps.agents.authenticateToken(token),
    scramVerifiers: () => deps.agents.scramVerifiers(),
    route: (endpoint) => deps.postgres().route(endpoint),
    login: (agent, endpoint, user, database) =>
      deps.postgres().login(agent, endpoint, user, database),
    leaf: (host) => deps.leaves.get(host),
    limits: () => {
      const l = deps.config().gateway.limits;
      return {
        maxMessageBytes: l.bodyBufferBytes,
        startupTimeoutMs: l.headerTimeoutMs,
        connectTimeoutMs: l.headerTimeoutMs,
      };
    },
    readsParams: (endpoint) => deps.postgres().readsParams(endpoint),
    log: (level, message, fields) => deps.log.log(level, message, fields),
    connections: (delta) => deps.metrics.connections.inc({ protocol: "postgres" }, delta),
    agentStanding: (agent) => deps.agents.standing(agent),
    sessionEnded: (cause) => deps.metrics.sessionsEnded.inc({ protocol: "postgres", cause }),
    listenerHooks: (endpoint) => listenerHooks(deps, "postgres", endpoint),
  };
  const listeners: PostgresListener[] = [];
  try {
    for (const endpoint of endpoints) {
      const [host, port] = splitHostPort(endpoint.listen);
      try {
        listeners.push(await PostgresListener.listen(endpoint.name, host, port, context, analyzer));
      } catch (err) {
        throw listenFailed(`endpoint "postgres" "${endpoint.name}" listen`, endpoint.listen, err);
      }
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  return listeners;
}

/** Starts one TLS listener per Kubernetes endpoint that sets `listen`. */
export async function startKubernetes(deps: ListenerDeps): Promise<KubernetesListener[]> {
  const context: KubernetesContext = {
    guard: deps.guard,
    authenticateToken: (token) => deps.agents.authenticateToken(token),
    route: (agent, endpoint) => deps.routes().kubernetes(agent, endpoint),
    leaf: (host) => deps.leaves.get(host),
    limits: () => httpLimits(deps.config()),
    log: (level, message, fields) => deps.log.log(level, message, fields),
    credentials: (agent, endpoint, request) => deps.credentials().use(agent, endpoint, request),
    connections: (delta) => deps.metrics.connections.inc({ protocol: "kubernetes" }, delta),
    agentStanding: (agent) => deps.agents.standing(agent),
    sessionEnded: (cause) => deps.metrics.sessionsEnded.inc({ protocol: "kubernetes", cause }),
    upstreamFailed: ({ protocol, endpoint, cause }) =>
      deps.metrics.upstreamFailures.inc({ protocol, endpoint: endpoint ?? "", cause }),
    upstreamRetried: ({ endpoint, cause }) =>
      deps.metrics.upstreamRetries.inc({ endpoint: endpoint ?? "", cause }),
    listenerHooks: (endpoint) => listenerHooks(deps, "kubernetes", endpoint),
  };
  const listeners: KubernetesListener[] = [];
  try {
    for (const endpoint of deps.config().endpoints.values()) {
      if (endpoint.protocol !== "kubernetes" || !endpoint.listen) continue;
      const [host, port] = splitHostPort(endpoint.listen);
      try {
        listeners.push(await KubernetesListener.listen(endpoint.name, host, port, context));
      } catch (err) {
        throw listenFailed(`endpoint "kubernetes" "${endpoint.name}" listen`, endpoint.listen, err);
      }
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  return listeners;
}

/**
 * Ends the open sessions of an agent revoked or rotated (by the CLI, from another process)
 * whenever the agents file changes: Postgres sessions and Kubernetes connections never
 * authenticate again by themselves. Returns the function that stops watching.
 */
export function watchAgents(
  deps: ListenerDeps,
  ...listeners: { endRevokedSessions(): void }[][]
): () => void {
  return deps.agents.watch(() => {
    for (const l of listeners.flat()) l.endRevokedSessions();
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

/** Splits `host:port` (IPv6 in brackets). */
export function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  return [host, Number(address.slice(at + 1))];
}
