/**
 * Where an agent's HTTPS traffic may go under one config: host → endpoint (exact beats the
 * longest wildcard; a Kubernetes API server's host leads to its endpoint), and whether the
 * agent's profile includes that endpoint.
 *
 * @module
 */

import { type Config, HostMatcher } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import {
  type HostRoute,
  type HttpEndpointRoute,
  type HttpsEndpoint,
  isHttpsEndpoint,
} from "../protocols/http/mod.ts";
import { AWS_FLAVOR, type AwsEndpoint, isAwsEndpoint } from "../protocols/aws/mod.ts";
import {
  isKubernetesEndpoint,
  type KubernetesTarget,
  kubernetesTarget,
  normaliseHost,
} from "../protocols/kubernetes/mod.ts";

/** Routing tables built once per loaded config. */
export class HttpRoutes {
  readonly #config: Config;
  /** https and aws endpoints: both claim hosts and ride the proxy's HTTPS handling. */
  readonly #hosts: HostMatcher<HttpsEndpoint | AwsEndpoint>;
  readonly #reachable = new Map<string, Set<string>>();
  /** Kubernetes endpoints by name, and by their API server's host (for CONNECT). */
  readonly #kubernetes = new Map<string, KubernetesTarget>();
  readonly #kubernetesHosts = new Map<string, string[]>();
  /** Routes to https and aws endpoints by name, built at first use. */
  readonly #httpsRoutes = new Map<string, HostRoute>();

  constructor(config: Config) {
    this.#config = config;
    this.#hosts = new HostMatcher(
      [...config.endpoints.values()].filter((e) => isHttpsEndpoint(e) || isAwsEndpoint(e)),
    );
    for (const e of config.endpoints.values()) {
      if (!isKubernetesEndpoint(e)) continue;
      const target = kubernetesTarget(e);
      this.#kubernetes.set(e.name, target);
      const names = this.#kubernetesHosts.get(target.server.host) ?? [];
      names.push(e.name);
      this.#kubernetesHosts.set(target.server.host, names);
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
   * Routes `host:port` for `agent`. An endpoint claims its hosts only on its ports (an https
   * endpoint's `ports`, a Kubernetes endpoint's API server port); a claimed host on another
   * port is refused, never treated as unknown. An agent whose profile is no longer in the
   * config reaches no endpoint (fail closed).
   */
  route(agent: AgentFacts, host: string, port: number): HostRoute {
    // Most configs name no Kubernetes API server: no host to normalise for them.
    const kubernetes = this.#kubernetesHosts.size === 0
      ? NO_NAMES
      : this.#kubernetesHosts.get(normaliseHost(host)) ?? NO_NAMES;
    const https = this.#hosts.match(host);
    // A Kubernetes API server and an https endpoint may share a host on different ports.
    const name = kubernetes.find((k) => this.#kubernetes.get(k)!.server.port === port) ??
      (https?.ports.includes(port) ? https.name : undefined);
    if (name === undefined) {
      const claimant = kubernetes[0] ?? https?.name;
      if (claimant === undefined) {
        return { kind: "unknown", unknownHost: this.#config.defaults.unknownHost };
      }
      if (!this.#reachable.get(agent.profile)?.has(claimant)) {
        return { kind: "outside_profile", endpoint: claimant };
      }
      return { kind: "unclaimed_port", endpoint: claimant, ports: this.#portsOf(claimant) };
    }
    if (!this.#reachable.get(agent.profile)?.has(name)) {
      return { kind: "outside_profile", endpoint: name };
    }
    const target = this.#kubernetes.get(name);
    if (target) return { kind: "endpoint", endpoint: target.route };
    // Every request in a tunnel is routed again (a reload may have moved its host): the answer
    // for an endpoint is built once per config.
    let found = this.#httpsRoutes.get(name);
    if (found === undefined) {
      found = Object.freeze({ kind: "endpoint", endpoint: httpsRoute(https!) });
      this.#httpsRoutes.set(name, found);
    }
    return found;
  }

  /** Whether `agent`'s profile reaches `endpoint` (lists it, or holds a credential on it). */
  reaches(agent: AgentFacts, endpoint: string): boolean {
    return this.#reachable.get(agent.profile)?.has(endpoint) ?? false;
  }

  /** The ports an endpoint claims its hosts on. */
  #portsOf(name: string): readonly number[] {
    const target = this.#kubernetes.get(name);
    if (target) return [target.server.port];
    const e = this.#config.endpoints.get(name);
    return e && (isHttpsEndpoint(e) || isAwsEndpoint(e)) ? e.ports : [];
  }
}

const NO_NAMES: readonly string[] = Object.freeze([]);

/** How the proxy reaches an https or aws endpoint; frozen, as one serves every request. */
function httpsRoute(https: HttpsEndpoint | AwsEndpoint): HttpEndpointRoute {
  return Object.freeze({
    name: https.name,
    upstream: https.upstream,
    caCert: https.caCert,
    allowEncodedSlash: https.allowEncodedSlash,
    allowDoubleEncoding: https.allowDoubleEncoding,
    allowPathParams: https.allowPathParams,
    allowMethodOverride: https.allowMethodOverride,
    ...(isAwsEndpoint(https) ? { flavor: AWS_FLAVOR } : {}),
  });
}
