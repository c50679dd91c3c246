/**
 * Where an agent's HTTPS traffic may go under one config: host → endpoint (exact beats the
 * longest wildcard; a Kubernetes API server's host leads to its endpoint), and whether the
 * agent's profile includes that endpoint. Also the routes of Kubernetes listeners.
 *
 * @module
 */

import {
  type Config,
  HostMatcher,
  type HttpsEndpoint,
  type KubernetesEndpoint,
} from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import type { HostRoute, HttpEndpointRoute } from "../protocols/http/mod.ts";
import { KUBERNETES_FLAVOR, type KubernetesRoute } from "../protocols/kubernetes/mod.ts";

/** A Kubernetes endpoint's API server and how the exchange reaches it. */
interface KubernetesTarget {
  route: HttpEndpointRoute;
  server: { host: string; port: number };
}

/** Routing tables built once per loaded config. */
export class HttpRoutes {
  readonly #config: Config;
  readonly #hosts: HostMatcher;
  readonly #reachable = new Map<string, Set<string>>();
  /** Kubernetes endpoints by name, and by their API server's host (for CONNECT). */
  readonly #kubernetes = new Map<string, KubernetesTarget>();
  readonly #kubernetesHosts = new Map<string, string>();

  constructor(config: Config) {
    this.#config = config;
    const https = [...config.endpoints.values()].filter((e): e is HttpsEndpoint =>
      e.protocol === "https"
    );
    this.#hosts = new HostMatcher(https);
    for (const e of config.endpoints.values()) {
      if (e.protocol !== "kubernetes") continue;
      const target = kubernetesTarget(e);
      this.#kubernetes.set(e.name, target);
      if (!this.#kubernetesHosts.has(target.server.host)) {
        this.#kubernetesHosts.set(target.server.host, e.name);
      }
    }
    for (const profile of config.profiles.values()) {
      const names = new Set(profile.endpoints);
      for (const ref of profile.credentials) {
        for (const e of config.credentials.get(ref)?.endpoints ?? []) names.add(e);
      }
      this.#reachable.set(profile.name, names);
    }
  }

  /**
   * Routes `host` for `agent`. An agent whose profile is no longer in the config reaches no
   * endpoint (fail closed).
   */
  route(agent: AgentFacts, host: string): HostRoute {
    const kubernetes = this.#kubernetesHosts.get(normaliseHost(host));
    if (kubernetes !== undefined) {
      if (!this.#reachable.get(agent.profile)?.has(kubernetes)) {
        return { kind: "outside_profile", endpoint: kubernetes };
      }
      return { kind: "endpoint", endpoint: this.#kubernetes.get(kubernetes)!.route };
    }
    const endpoint = this.#hosts.match(host);
    if (!endpoint) return { kind: "unknown", unknownHost: this.#config.defaults.unknownHost };
    if (!this.#reachable.get(agent.profile)?.has(endpoint.name)) {
      return { kind: "outside_profile", endpoint: endpoint.name };
    }
    return {
      kind: "endpoint",
      endpoint: {
        name: endpoint.name,
        upstream: endpoint.upstream,
        caCert: endpoint.caCert,
        allowEncodedSlash: endpoint.allowEncodedSlash,
      },
    };
  }

  /** Where Kubernetes endpoint `endpoint`'s listener sends `agent`'s requests. */
  kubernetes(agent: AgentFacts, endpoint: string): KubernetesRoute {
    const target = this.#kubernetes.get(endpoint);
    if (!target) {
      return { kind: "refused", reason: `endpoint '${endpoint}' is no longer configured` };
    }
    if (!this.#reachable.get(agent.profile)?.has(endpoint)) {
      return {
        kind: "refused",
        reason: `endpoint '${endpoint}' is not in profile '${agent.profile}'`,
      };
    }
    return { kind: "endpoint", endpoint: target.route, server: target.server };
  }
}

function kubernetesTarget(e: KubernetesEndpoint): KubernetesTarget {
  const url = new URL(e.server);
  return {
    route: {
      name: e.name,
      caCert: e.caCert,
      // Object names never hold a slash: an encoded one could only smuggle another path.
      allowEncodedSlash: false,
      flavor: KUBERNETES_FLAVOR,
    },
    server: { host: normaliseHost(url.hostname), port: url.port ? Number(url.port) : 443 },
  };
}

function normaliseHost(host: string): string {
  const lower = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
