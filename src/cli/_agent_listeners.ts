/**
 * The gateway listeners an agent reaches directly with a credential its profile holds (a PostgreSQL
 * endpoint's `listen`, logged in with a `postgres_credential`), in profile order, for the
 * protocols that declare an agent environment, found through the registry.
 *
 * @module
 */

import type { Endpoint, HeldCredential, Protocol } from "../core/mod.ts";
import type { Config, Profile } from "../config/mod.ts";

/** A listener the agent's environment points at, and the credential it logs in with. */
export interface AgentListener {
  protocol: Protocol;
  endpoint: Endpoint;
  credential: HeldCredential;
}

/**
 * Every credential of `profile` on an endpoint with its own listener whose protocol declares
 * `agentEnvironment`, in profile order.
 *
 * @example
 * ```ts
 * for (const { protocol, endpoint, credential } of agentListeners(config, profile, PROTOCOLS)) …
 * ```
 */
export function agentListeners(
  config: Config,
  profile: Profile,
  protocols: readonly Protocol[],
): AgentListener[] {
  const byFamily = new Map(protocols.map((p) => [p.family, p]));
  const found: AgentListener[] = [];
  for (const key of profile.credentials) {
    const credential = config.credentials.get(key);
    if (!credential) continue;
    for (const name of credential.endpoints) {
      const endpoint = config.endpoints.get(name);
      const protocol = endpoint && byFamily.get(endpoint.protocol);
      if (!endpoint?.listen || !protocol?.agentEnvironment) continue;
      // Only the kinds the family injects: an unbound or foreign credential logs in nowhere.
      if (!protocol.credentials || !Object.hasOwn(protocol.credentials, credential.kind)) continue;
      found.push({
        protocol,
        endpoint,
        credential: {
          ref: `${credential.kind}.${credential.name}`,
          name: credential.name,
          kind: credential.kind,
          settings: credential.settings,
        },
      });
    }
  }
  return found;
}
