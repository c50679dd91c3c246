/**
 * Where an agent's HTTPS traffic may go under one config: host → endpoint (exact beats the
 * longest wildcard), and whether the agent's profile includes that endpoint.
 *
 * @module
 */

import { type Config, HostMatcher, type HttpsEndpoint } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import type { HostRoute } from "../protocols/http/mod.ts";

/** Routing tables built once per loaded config. */
export class HttpRoutes {
  readonly #config: Config;
  readonly #hosts: HostMatcher;
  readonly #reachable = new Map<string, Set<string>>();

  constructor(config: Config) {
    this.#config = config;
    const https = [...config.endpoints.values()].filter((e): e is HttpsEndpoint =>
      e.protocol === "https"
    );
    this.#hosts = new HostMatcher(https);
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
}
