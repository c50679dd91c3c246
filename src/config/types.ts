/**
 * The typed, validated configuration (DESIGN.md §3). Everything here has been checked: references
 * resolve, enums are in range, durations are milliseconds.
 *
 * @module
 */

import type { Mode, ProtocolFamily } from "../core/mod.ts";

/** Where a block or attribute came from, for error messages. */
export interface Source {
  file: string;
  line: number;
}

/** A typed reference such as `https.github` or `human_approver.ops`. */
export interface Ref {
  kind: string;
  name: string;
}

/** Renders a reference as written in HCL: `kind.name`. */
export function refString(ref: Ref): string {
  return `${ref.kind}.${ref.name}`;
}

/** The `gateway` block. */
export interface GatewayConfig {
  stateDir: string;
  proxyListen: string;
  adminListen: string;
  mode: Mode;
  limits: {
    /** Request bodies buffered for rules, in bytes. */
    bodyBufferBytes: number;
    /** Receipts waiting to be written before new actions are denied. */
    receiptQueue: number;
    /** Least time between two receipt commits under load (group commit); 0 commits every tick. */
    receiptCommitIntervalMs: number;
    /**
     * Which allowed actions wait for their receipt to be on disk before being forwarded:
     * `writes` (anything not provably read-only; provable reads are group-committed within
     * `receiptCommitIntervalMs`) or `all`.
     */
    receiptDurability: "writes" | "all";
    /** Most open connections one agent may hold per listener; past it new ones are closed. */
    maxConnectionsPerAgent: number;
    /** Most connections not yet authenticated (TLS, CONNECT, Postgres startup) per listener. */
    maxUnauthenticatedConnections: number;
    /** Time a new connection gets to finish TLS and authenticate before it is closed. */
    handshakeTimeoutMs: number;
    /** Time a client gets to send its request headers. */
    headerTimeoutMs: number;
    /** Time a kept-alive agent connection may sit idle between requests. */
    idleTimeoutMs: number;
    /** Time to wait for an upstream's response headers (LLM APIs can think for minutes). */
    upstreamTimeoutMs: number;
  };
}

/** The `defaults` block. */
export interface DefaultsConfig {
  unknownHost: "deny" | "passthrough";
  noMatch: "deny" | "allow";
  humanTimeoutMs: number;
  humanOnTimeout: "deny" | "allow";
  llmFailMode: "closed" | "open";
  llmCacheTtlMs: number;
  misplacedPlaceholder: "deny" | "allow";
}

interface EndpointBase {
  name: string;
  source: Source;
}

/** `endpoint "https" NAME`. */
export interface HttpsEndpoint extends EndpointBase {
  protocol: "https";
  hosts: string[];
  /** `host:port` to dial instead of the request's host; SNI and Host stay the request's. */
  upstream?: string;
  /** PEM roots for verifying the upstream, instead of the system roots. */
  caCert?: string;
  /**
   * Pass `%2F`/`%5C` in paths through (still encoded) instead of rejecting them. Off by default:
   * servers disagree on whether an encoded slash separates segments, which lets paths evade rules.
   */
  allowEncodedSlash: boolean;
  /**
   * Forward paths with double-encoded escapes (`%2561`) instead of refusing them. Off by
   * default: a server that decodes twice routes `/%2561dmin` to `/admin`.
   */
  allowDoubleEncoding: boolean;
  /**
   * Forward paths with `;` path parameters instead of refusing them. Off by default: Tomcat and
   * Spring strip them, so `/;/admin` and `/x;a=1/../admin` reach another path than rules saw.
   */
  allowPathParams: boolean;
  /**
   * Forward requests whose `X-HTTP-Method-Override`-style header or `_method` parameter names
   * another method. Off by default: Rails, Express and ASP.NET run the named method; with it on,
   * rules must read `http.effective_method`.
   */
  allowMethodOverride: boolean;
  /**
   * Ports the endpoint claims its hosts on (sorted, unique; default `[443]`). A CONNECT (or
   * absolute-form request) to one of its hosts on another port is refused: without `upstream`
   * the gateway would dial that port, so a host claim must not open every service on the host.
   */
  ports: number[];
  /** What a `{{…}}`-shaped text naming no credential does: refused, or forwarded as text. */
  unknownPlaceholders: UnknownPlaceholders;
}

/**
 * `unknown_placeholders` on an endpoint: `"deny"` refuses a request carrying placeholder-shaped
 * text that names no configured credential (a typo or a removed credential would otherwise
 * reach the upstream as is); `"allow"` forwards it, for upstreams that use `{{…}}` themselves.
 */
export type UnknownPlaceholders = "deny" | "allow";

/** `endpoint "postgres" NAME`. */
export interface PostgresEndpoint extends EndpointBase {
  protocol: "postgres";
  host: string;
  listen: string;
  sslmode: "disable" | "prefer" | "require" | "verify-full";
  caCert?: string;
  /** Answer agents' SSLRequest with TLS (a gateway-minted certificate); `false` answers `N`. */
  listenTls: boolean;
}

/** `endpoint "kubernetes" NAME`. */
export interface KubernetesEndpoint extends EndpointBase {
  protocol: "kubernetes";
  server: string;
  listen?: string;
  caCert?: string;
  /** As on https endpoints; the API server's port is the only one claimed for CONNECT. */
  unknownPlaceholders: UnknownPlaceholders;
}

/** Any endpoint; `protocol` tells which. */
export type Endpoint = HttpsEndpoint | PostgresEndpoint | KubernetesEndpoint;

/** Credential kinds and the protocol family each injects into (`null`: not bound to endpoints). */
export const CREDENTIAL_KINDS: Record<string, ProtocolFamily | null> = {
  bearer_token: "https",
  header_token: "https",
  basic_auth: "https",
  query_token: "https",
  postgres_credential: "postgres",
  k8s_bearer_token: "kubernetes",
  mtls_credential: "kubernetes",
  api_key: null,
  slack_tokens: null,
  webhook_secret: null,
};

/** `credential KIND NAME`. Secret values live in the vault, never in config. */
export interface Credential {
  kind: string;
  name: string;
  /** Endpoint names this credential may be injected into. */
  endpoints: string[];
  /** Kind-specific settings (header, prefix, username, param, user, database, env, placeholder…). */
  settings: Record<string, string | string[]>;
  source: Source;
}

/** `profile NAME`: what an agent enrolled with it may reach. */
export interface Profile {
  name: string;
  /** Endpoints reachable without a gateway-held credential. */
  endpoints: string[];
  /** Credentials (`kind.name`); their endpoints come along. */
  credentials: string[];
  source: Source;
}

/** `approver KIND NAME`. */
export interface Approver {
  kind: "llm_approver" | "human_approver" | "webhook_approver";
  name: string;
  timeoutMs: number | null;
  settings: Record<string, string | number | string[]>;
  source: Source;
}

/** `rule NAME`. */
export interface Rule {
  name: string;
  /** Endpoint names, all of one protocol family. */
  endpoints: string[];
  family: ProtocolFamily;
  priority: number;
  condition: string;
  /** Line of the `condition` attribute, for CEL error messages. */
  conditionSource: Source;
  verdict: "allow" | "deny" | null;
  /** Approver references (`kind.name`), in chain order, when the rule holds for approval. */
  approve: string[];
  reason: string;
  /** `null`: inherit `gateway.mode`. */
  mode: Mode | null;
  /** Only applies when the action uses this credential (`kind.name`). */
  credential: string | null;
  /** Declaration order across all files, for stable tie-breaking. */
  order: number;
  source: Source;
}

/** A whole validated configuration. */
export interface Config {
  /** The file or directory it was loaded from. */
  path: string;
  /** Every file that contributed, for hot reload watching. */
  files: string[];
  gateway: GatewayConfig;
  defaults: DefaultsConfig;
  endpoints: Map<string, Endpoint>;
  credentials: Map<string, Credential>;
  profiles: Map<string, Profile>;
  approvers: Map<string, Approver>;
  rules: Rule[];
}
