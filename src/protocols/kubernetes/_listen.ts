/**
 * `KUBERNETES_PROTOCOL.listen`: the gateway's protocol-agnostic services adapted to the narrow
 * {@linkcode KubernetesContext}, and where an endpoint's requests go (its API server).
 *
 * @module
 */

import {
  type Endpoint,
  type ProtocolListener,
  type ProtocolServices,
  splitHostPort,
} from "../../core/mod.ts";
import type { HttpEndpointRoute } from "../http/mod.ts";
import type { KubernetesContext } from "./context.ts";
import { isKubernetesEndpoint, type KubernetesEndpoint } from "./endpoint.ts";
import { KUBERNETES_FLAVOR } from "./facts.ts";
import { KubernetesListener } from "./listener.ts";

/** A Kubernetes endpoint's API server and how the HTTP exchange reaches it. */
export interface KubernetesTarget {
  route: HttpEndpointRoute;
  server: { host: string; port: number };
}

/** Targets by endpoint: a config's endpoints are immutable and replaced whole on reload. */
const targets = new WeakMap<KubernetesEndpoint, KubernetesTarget>();

/**
 * Where a Kubernetes endpoint's requests go, from the listener or the forward proxy. Worked out
 * once per endpoint (the listener asks on every request) and frozen, since every request shares it.
 */
export function kubernetesTarget(e: KubernetesEndpoint): KubernetesTarget {
  let target = targets.get(e);
  if (target === undefined) {
    target = deepFreeze(targetOf(e));
    targets.set(e, target);
  }
  return target;
}

function deepFreeze(t: KubernetesTarget): KubernetesTarget {
  Object.freeze(t.route);
  Object.freeze(t.server);
  return Object.freeze(t);
}

function targetOf(e: KubernetesEndpoint): KubernetesTarget {
  const url = new URL(e.server);
  return {
    route: {
      name: e.name,
      ...e.upstream === undefined ? {} : { upstream: e.upstream },
      caCert: e.caCert,
      // Object names never hold a slash: an encoded one could only smuggle another path.
      allowEncodedSlash: false,
      flavor: KUBERNETES_FLAVOR,
    },
    server: { host: normaliseHost(url.hostname), port: url.port ? Number(url.port) : 443 },
  };
}

/** A host as routes compare it: lower case, no brackets, no trailing dot. */
export function normaliseHost(host: string): string {
  let lower = host.toLowerCase();
  if (lower.charCodeAt(0) === 0x5b) lower = lower.replace(/^\[(.*)\]$/, "$1"); // "["
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** Starts the TLS listener of a `kubernetes` endpoint that sets `listen`. */
export async function listenKubernetes(
  endpoint: Endpoint,
  services: ProtocolServices,
): Promise<ProtocolListener> {
  if (!isKubernetesEndpoint(endpoint) || !endpoint.listen) {
    throw new TypeError(`Cannot listen for endpoint '${endpoint.name}': no kubernetes listen`);
  }
  const [host, port] = splitHostPort(endpoint.listen);
  const listener = await KubernetesListener.listen(
    endpoint.name,
    host,
    port,
    kubernetesContext(services),
  );
  return {
    endpoint: listener.endpoint,
    get address() {
      return listener.address;
    },
    get url() {
      return `https://${listener.address.hostname}:${listener.address.port}`;
    },
    close: (reason) => listener.close(reason),
    endRevokedSessions: () => listener.endRevokedSessions(),
  };
}

function kubernetesContext(services: ProtocolServices): KubernetesContext {
  const { agents, metrics } = services;
  return {
    guard: services.guard,
    authenticateToken: (token) => agents.authenticateToken(token),
    reauthenticateToken: (agent, token) => agents.reauthenticateToken(agent, token),
    route: (agent, name) => {
      const endpoint = services.endpoint(name);
      if (!endpoint || !isKubernetesEndpoint(endpoint)) {
        return { kind: "refused", reason: `endpoint '${name}' is no longer configured` };
      }
      if (!services.reaches(agent, name)) {
        return {
          kind: "refused",
          reason: `endpoint '${name}' is not in profile '${agent.profile}'`,
        };
      }
      const target = kubernetesTarget(endpoint);
      return { kind: "endpoint", endpoint: target.route, server: target.server };
    },
    leaf: (host) => services.leaf(host),
    net: services.net,
    limits: () => {
      const l = services.limits();
      return {
        bodyBufferBytes: l.bodyBufferBytes,
        headerTimeoutMs: l.headerTimeoutMs,
        idleTimeoutMs: l.idleTimeoutMs,
        upstreamTimeoutMs: l.upstreamTimeoutMs,
      };
    },
    log: (level, message, fields) => services.log(level, message, fields),
    credentials: services.injectHttp,
    connections: (delta) => metrics.connections(delta),
    agentStanding: (agent) => agents.standing(agent),
    sessionEnded: (cause) => metrics.sessionEnded(cause),
    upstreamFailed: (failure) => metrics.upstreamFailed(failure),
    upstreamRetried: (failure) => metrics.upstreamRetried(failure),
    listenerHooks: (endpoint) => services.listenerHooks(endpoint),
  };
}
