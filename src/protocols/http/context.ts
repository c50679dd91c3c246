/**
 * What the HTTP proxy needs from the rest of the gateway, as narrow callbacks (DESIGN.md §2):
 * the proxy never imports config, policy, audit or agents.
 *
 * @module
 */

import type {
  ActionGuard,
  AgentFacts,
  Facts,
  HttpFacts,
  ListenerHooks,
  NetServices,
  ProtocolFamily,
} from "../../core/mod.ts";
import type { HttpCredentialUse, HttpRequestParts } from "../../core/mod.ts";

export type {
  ClientCertificate,
  HttpCredentialUse,
  HttpRequestParts,
  ResponseScrubber,
} from "../../core/mod.ts";
import type { ReplyShape } from "./_respond.ts";

/**
 * What turns plain HTTPS handling into another HTTP-based protocol (Kubernetes): its own facts
 * on top of http's, its deny shape, and the upgrades it may relay after a decision.
 */
export interface ExchangeFlavor {
  protocol: ProtocolFamily;
  /**
   * The action's facts and summary from the request's http facts (and raw body). May throw:
   * the request is then refused as unparseable (fail closed).
   */
  facts(http: HttpFacts): { facts: Facts; unknown?: string[]; summary: string };
  /** Body shape of gateway-made responses; unset: chosen per client, as for https. */
  replyShape: ReplyShape | undefined;
  /** `Upgrade` protocols (lowercase) relayed once the opening request is allowed. */
  upgrades: readonly string[];
  /**
   * Request headers (lowercase) never forwarded, whatever the credentials: on Kubernetes the
   * agent's own token rides in Authorization and must not reach the cluster.
   */
  dropHeaders: readonly string[];
}

/** An `https` endpoint as the proxy sees it. */
export interface HttpEndpointRoute {
  name: string;
  /** `host:port` to dial instead of the request's host (SNI and Host stay the request's). */
  upstream?: string;
  /** PEM roots that verify the upstream instead of the system roots. */
  caCert?: string;
  allowEncodedSlash: boolean;
  /** Forward double-encoded path escapes (`%2561`). @default {false} */
  allowDoubleEncoding?: boolean;
  /** Forward `;` path parameters. @default {false} */
  allowPathParams?: boolean;
  /** Forward method overrides naming another method (rules see `effective_method`). @default {false} */
  allowMethodOverride?: boolean;
  /** Set for endpoints of another HTTP-based protocol (a Kubernetes API reached by CONNECT). */
  flavor?: ExchangeFlavor;
}

/** Where a host and port lead for one agent. */
export type HostRoute =
  | { kind: "endpoint"; endpoint: HttpEndpointRoute }
  /** An endpoint claims the host, but the agent's profile does not include it. */
  | { kind: "outside_profile"; endpoint: string }
  /**
   * An endpoint claims the host, but not on this port. Refused whatever `unknown_host` says: the
   * host is not unknown, and relaying it blindly would open every other service it runs.
   */
  | { kind: "unclaimed_port"; endpoint: string; ports: readonly number[] }
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

/**
 * Why an upstream failed, for metrics and the operator log: connection refused, reset (also a
 * broken pipe), closed without answering (`eof`), no answer in time, TLS, name resolution, or
 * anything else (a malformed answer).
 */
export type UpstreamCause = "refused" | "reset" | "eof" | "timeout" | "tls" | "dns" | "other";

/** One upstream failure (or retry) of a forwarded request. */
export interface UpstreamFailure {
  protocol: ProtocolFamily;
  /** The endpoint, or `null` for passthrough traffic. */
  endpoint: string | null;
  cause: UpstreamCause;
}

/** Operator log levels. */
export type ProxyLogLevel = "debug" | "info" | "warn" | "error";

/** The callbacks the gateway hands the proxy. */
export interface HttpProxyContext {
  guard: ActionGuard;
  /**
   * Whether the credentials `agent` authenticated with still hold: `revoked` or `rotated` ends
   * its open tunnels (asked by the proxy's `endRevokedSessions()`). Absent: always `active`.
   */
  agentStanding?(agent: AgentFacts): "active" | "revoked" | "rotated";
  /** Called when the gateway ended an open tunnel, with why. */
  sessionEnded?(cause: "revoked" | "rotated"): void;
  /** The agent for a `NAME:TOKEN` pair, or `null`. Called for every request. */
  authenticate(name: string, token: string): AgentFacts | null;
  /**
   * `authenticate` again for a tunnel that authenticated as `agent` with that pair, cheaper while
   * the agents are unchanged. Absent: `authenticate`.
   */
  reauthenticate?(agent: AgentFacts, name: string, token: string): AgentFacts | null;
  /** Where `host:port` leads for `agent` under the config in force. */
  route(agent: AgentFacts, host: string, port: number): HostRoute;
  /** A leaf certificate for `host`, signed by the gateway CA (cached). */
  leaf(host: string): Promise<{ certPem: string; keyPem: string }>;
  /** Listening, accepting and agent-side TLS. */
  net: NetServices;
  limits(): HttpProxyLimits;
  log(level: ProxyLogLevel, message: string, fields?: Record<string, unknown>): void;
  /**
   * Finds placeholders in a request and prepares the secrets to swap in (endpoint `null`:
   * passthrough). Never throws: problems come back as `refusal`. Absent: no credentials.
   */
  credentials?(
    agent: AgentFacts,
    endpoint: string | null,
    request: HttpRequestParts,
  ): Promise<HttpCredentialUse>;
  /** Called with +1/-1 as agent connections open and close. */
  connections?(delta: number): void;
  /**
   * Called once per forwarded request whose upstream failed: the agent got the gateway's
   * 502/504, or a response cut short.
   */
  upstreamFailed?(failure: UpstreamFailure): void;
  /** Called when a request is resent on a fresh connection because a reused one failed. */
  upstreamRetried?(failure: UpstreamFailure): void;
  /** Connection caps and handshake deadline, and where accept trouble goes. Absent: no caps. */
  listenerHooks?(): ListenerHooks;
}
