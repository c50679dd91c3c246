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
