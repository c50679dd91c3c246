/**
 * Why the proxy refuses where a request leads, before reading anything from inside it.
 *
 * @module
 */

import type { AgentFacts } from "../../core/mod.ts";
import type { HostRoute } from "./context.ts";
import type { Authority } from "./_target.ts";

/** A refusal: the endpoint it is recorded against (`null`: none claims the host) and why. */
export interface RouteRefusal {
  endpoint: string | null;
  reason: string;
}

/**
 * Why `route` refuses `agent` on `target` (an endpoint outside its profile, a port the endpoint
 * does not claim, a host no endpoint claims under `unknown_host = "deny"`), or `null` when it
 * leads to an endpoint or to a passthrough relay.
 *
 * @example
 * ```ts
 * routeRefusal(
 *   { kind: "unclaimed_port", endpoint: "github", ports: [443] },
 *   agent,
 *   { host: "api.github.com", port: 22 },
 * )?.reason; // "port 22 is not one of the ports of endpoint 'github' (443)"
 * ```
 */
export function routeRefusal(
  route: HostRoute,
  agent: AgentFacts,
  target: Authority,
): RouteRefusal | null {
  switch (route.kind) {
    case "outside_profile":
      return {
        endpoint: route.endpoint,
        reason: `endpoint '${route.endpoint}' is not in profile '${agent.profile}'`,
      };
    case "unclaimed_port":
      return {
        endpoint: route.endpoint,
        reason: `port ${target.port} is not one of the ports of endpoint '${route.endpoint}' (${
          route.ports.join(", ")
        })`,
      };
    case "unknown":
      return route.unknownHost === "deny"
        ? {
          endpoint: null,
          reason: `no endpoint claims host '${target.host}' (defaults.unknown_host = deny)`,
        }
        : null;
    case "endpoint":
      return null;
  }
}

/** A refusal of a plain `http://` request, with the status and error it is answered with. */
export interface CleartextRefusal extends RouteRefusal {
  status: 400 | 403;
  error: "bad_request" | "denied";
}

/**
 * Why `route` refuses a plain `http://` request by `agent` to `target`: what
 * {@linkcode routeRefusal} refuses (403), and any host an endpoint claims (400): endpoints take
 * https only. `null` when the request goes to an unknown host that is relayed.
 *
 * @example
 * ```ts
 * cleartextRefusal(
 *   { kind: "unclaimed_port", endpoint: "github", ports: [443] },
 *   agent,
 *   { host: "api.github.com", port: 80 },
 * )?.reason; // "endpoint 'github' takes https only: use https://api.github.com"
 * ```
 */
export function cleartextRefusal(
  route: HostRoute,
  agent: AgentFacts,
  target: Authority,
): CleartextRefusal | null {
  // Plain http:// on the default port to a host an endpoint claims is most likely a URL
  // missing its "s": say so (below) rather than that port 80 is not the endpoint's.
  const cleartext = route.kind === "endpoint" ||
    (route.kind === "unclaimed_port" && target.port === 80);
  const refused = cleartext ? null : routeRefusal(route, agent, target);
  if (refused) return { ...refused, status: 403, error: "denied" };
  if (route.kind === "endpoint" || route.kind === "unclaimed_port") {
    // Cleartext to an https endpoint would carry its traffic (and, once injected, its
    // credentials) unencrypted to the upstream: refuse and point at https.
    const name = route.kind === "endpoint" ? route.endpoint.name : route.endpoint;
    return {
      endpoint: name,
      reason: `endpoint '${name}' takes https only: use https://${target.host}`,
      status: 400,
      error: "bad_request",
    };
  }
  return null;
}
