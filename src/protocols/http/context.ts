/**
 * What the HTTP proxy needs from the rest of the gateway, as narrow callbacks (DESIGN.md §2):
 * the proxy never imports config, policy, audit or agents.
 *
 * @module
 */

import type { ActionGuard, AgentFacts } from "../../core/mod.ts";

/** An `https` endpoint as the proxy sees it. */
export interface HttpEndpointRoute {
  name: string;
  /** `host:port` to dial instead of the request's host (SNI and Host stay the request's). */
  upstream?: string;
  /** PEM roots that verify the upstream instead of the system roots. */
  caCert?: string;
  allowEncodedSlash: boolean;
}

/** Where a host leads for one agent. */
export type HostRoute =
  | { kind: "endpoint"; endpoint: HttpEndpointRoute }
  /** An endpoint claims the host, but the agent's profile does not include it. */
  | { kind: "outside_profile"; endpoint: string }
  /** No endpoint claims the host: `defaults.unknown_host` says what happens. */
  | { kind: "unknown"; unknownHost: "deny" | "passthrough" };

/** Limits read per connection, so a reload applies to new connections. */
export interface HttpProxyLimits {
  /** Request body bytes buffered for rules; beyond it `body_truncated` is true. */
  bodyBufferBytes: number;
  /** Time a client has to send a complete request head once it started one. */
  headerTimeoutMs: number;
  /** Time a kept-alive connection may sit idle between requests. */
  idleTimeoutMs: number;
  /** Time to wait for the upstream's response head. */
  upstreamTimeoutMs: number;
}

/** Operator log levels. */
export type ProxyLogLevel = "debug" | "info" | "warn" | "error";

/** The callbacks the gateway hands the proxy. */
export interface HttpProxyContext {
  guard: ActionGuard;
  /** The agent for a `NAME:TOKEN` pair, or `null`. Called for every request. */
  authenticate(name: string, token: string): AgentFacts | null;
  /** Where `host` leads for `agent` under the config in force. */
  route(agent: AgentFacts, host: string): HostRoute;
  /** A leaf certificate for `host`, signed by the gateway CA (cached). */
  leaf(host: string): Promise<{ certPem: string; keyPem: string }>;
  limits(): HttpProxyLimits;
  log(level: ProxyLogLevel, message: string, fields?: Record<string, unknown>): void;
  /** Called with +1/-1 as agent connections open and close. */
  connections?(delta: number): void;
}
