/**
 * What a Kubernetes listener needs from the rest of the gateway, as narrow callbacks
 * (DESIGN.md §2): it never imports config, policy, audit or agents.
 *
 * @module
 */

import type { ActionGuard, AgentFacts, ListenerHooks, NetServices } from "../../core/mod.ts";
import type {
  HttpCredentialUse,
  HttpEndpointRoute,
  HttpProxyLimits,
  HttpRequestParts,
  ProxyLogLevel,
  UpstreamFailure,
} from "../http/mod.ts";

/** Where a Kubernetes endpoint's requests go for one agent, under the config in force. */
export type KubernetesRoute =
  | {
    kind: "endpoint";
    /** The endpoint as the HTTP exchange sees it (its flavor is Kubernetes). */
    endpoint: HttpEndpointRoute;
    /** The API server: dialled, named in SNI and Host, and verified against `caCert`. */
    server: { host: string; port: number };
  }
  /** The agent may not use this endpoint, or it is no longer configured. Agent-facing reason. */
  | { kind: "refused"; reason: string };

/** The callbacks the gateway hands a Kubernetes listener. */
export interface KubernetesContext {
  guard: ActionGuard;
  /** The agent a bearer token belongs to (its clawpatrol token), or `null`. */
  authenticateToken(token: string): AgentFacts | null;
  /**
   * The same, for a connection whose last request authenticated as `agent` with this token
   * (without it, every request is authenticated in full).
   */
  reauthenticateToken?(agent: AgentFacts, token: string): AgentFacts | null;
  /** Where `endpoint` leads for `agent`; asked for every request, so reloads apply at once. */
  route(agent: AgentFacts, endpoint: string): KubernetesRoute;
  /** A leaf certificate for the address agents dial, signed by the gateway CA (cached). */
  leaf(host: string): Promise<{ certPem: string; keyPem: string }>;
  /** Listening, accepting and agent-side TLS. */
  net: NetServices;
  limits(): HttpProxyLimits;
  log(level: ProxyLogLevel, message: string, fields?: Record<string, unknown>): void;
  /** Credential injection for the endpoint (the cluster's bearer token), as for HTTPS. */
  credentials?(
    agent: AgentFacts,
    endpoint: string | null,
    request: HttpRequestParts,
  ): Promise<HttpCredentialUse>;
  /** Called with +1/-1 as agent connections open and close. */
  connections?(delta: number): void;
  /**
   * Whether the credentials `agent` authenticated with still hold: `revoked` or `rotated`
   * closes its open connections (asked by the listener's `endRevokedSessions()`). Absent: always
   * `active`.
   */
  agentStanding?(agent: AgentFacts): "active" | "revoked" | "rotated";
  /** Called when the gateway closed an open connection, with why. */
  sessionEnded?(cause: "revoked" | "rotated"): void;
  /** Told about each upstream failure (the cluster unreachable, reset, timed out), for metrics. */
  upstreamFailed?(failure: UpstreamFailure): void;
  /** Told about each request retried once on a fresh connection to the cluster. */
  upstreamRetried?(failure: UpstreamFailure): void;
  /**
   * Connection caps and handshake deadline for `endpoint`'s listener, and where its accept
   * trouble goes. Absent: no caps.
   */
  listenerHooks?(endpoint: string): ListenerHooks;
}
