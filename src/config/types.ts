/**
 * The typed, validated configuration (DESIGN.md §3). Everything here has been checked: references
 * resolve, enums are in range, durations are milliseconds.
 *
 * @module
 */

import type { Endpoint, Mode, ProtocolFamily, Source } from "../core/mod.ts";

// Endpoints are typed by the protocol that reads them: the base type is core's, and each family's
// (`HttpsEndpoint`…) is exported by its protocol's `mod.ts`.
export type { Endpoint, Source, UnknownPlaceholders } from "../core/mod.ts";

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
  /**
   * Whether the dashboard may write rules into the config's files ("Block requests like this",
   * "Promote to enforce"); each write is validated against the whole config first.
   */
  dashboardConfigWrites: boolean;
  /** Absent: agents reach the gateway only through the proxy and the listeners. */
  transparent?: TransparentConfig;
  /** What receipts keep, and for how long. */
  receipts: ReceiptsConfig;
  /** Receipts shipped to a JSON-lines file or stdout and/or an OTLP collector; null: none. */
  export: ExportConfig | null;
  /** Absent: state stays in `state_dir` (SQLite and files); set: shared PostgreSQL. */
  store?: StoreConfig;
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
    /** Most connections not yet authenticated (TLS, CONNECT, PostgreSQL startup) per listener. */
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
/** `gateway { transparent { … } }`: agents reach endpoints by name, without proxy settings. */
export interface TransparentConfig {
  /** IPv4 CIDR the endpoint names' virtual IPs come from, e.g. `10.79.0.0/16`. */
  vipRange: string;
  /** `host:port` the DNS responder listens on (UDP and TCP). */
  dnsListen: string;
  /** IPv4 CIDR the links of `run --isolate` namespaces come from, a /31 each. */
  linkRange: string;
  /**
   * Added to every port below 1024 the gateway intercepts on (443 → 443 + offset, 53 for the
   * responder's default), so it needs no privilege to listen; the root step maps what isolated
   * runs and tunnel peers send. 0: the real ports.
   */
  portOffset: number;
}

/** TLS towards the store, as libpq's `sslmode` (`verify-full`: chain and host name checked). */
export type StoreSslMode = "disable" | "prefer" | "require" | "verify-full";

/** `gateway { store = "postgres://…" }`: the PostgreSQL several gateways share. */
export interface StoreConfig {
  host: string;
  port: number;
  database: string;
  user: string;
  sslmode: StoreSslMode;
  /** PEM file of the roots for `verify-full` (default: the system's). */
  sslRootCert: string | null;
  /** The URL without its password, for log lines and `store status`. */
  display: string;
  /** From the URL, when it carries one; else `CLAWPATROL_STORE_PASSWORD`. Never printed. */
  password: string | null;
  /** `store_vault = true`: the vault's sealed values (and the CA) kept in the store too. */
  vault?: boolean;
}

/** `gateway { receipts { … } }`: what receipts keep, and for how long. */
/** `gateway { export { … } }`: committed receipts shipped elsewhere, each once, in order. */
export interface ExportConfig {
  /** Absolute path of a JSON-lines file, `-` for stdout, or null. */
  jsonl: string | null;
  /** The file is rotated (`.1` … `.N`) once past this size. */
  jsonlMaxBytes: number;
  /** Rotated files kept. */
  jsonlKeep: number;
  /** OTLP/HTTP logs endpoint (`…/v1/logs`), or null. */
  otlpUrl: string | null;
}

export interface ReceiptsConfig {
  /**
   * Request bodies in receipts' facts: none, the first `sampleBytes` of each, or all of what the
   * gateway buffered (`body_buffer`). Credential values are redacted whatever this says.
   */
  bodies: "none" | "sample" | "full";
  sampleBytes: number;
  /** Receipts older than this are pruned (a checkpoint keeps the rest verifiable); null: kept. */
  keepMs: number | null;
  /** How often a signed anchor of the chains' heads is made (when they moved); null: never. */
  anchorEveryMs: number | null;
  /** Absolute path anchors are appended to (outside `state_dir`), or null. */
  anchorFile: string | null;
  /** URL anchors are POSTed to (JSON), or null. */
  anchorUrl: string | null;
}

/** `tunnel "wireguard" NAME { … }`: agents on other hosts, over WireGuard. */
export interface TunnelConfig {
  kind: "wireguard";
  name: string;
  source: Source;
  /** UDP port the interface listens on. */
  listenPort: number;
  /** The gateway's tunnel address with the peers' network prefix, e.g. `10.78.0.1/24`. */
  address: string;
  /** The host's interface name (`cpwg-NAME` unless set). */
  interface: string;
  /** `host:port` peers dial, written into their configs; absent: `agent add` must be told. */
  endpoint?: string;
}

export interface DefaultsConfig {
  unknownHost: "deny" | "passthrough";
  noMatch: "deny" | "allow";
  humanTimeoutMs: number;
  humanOnTimeout: "deny" | "allow";
  llmFailMode: "closed" | "open";
  llmCacheTtlMs: number;
  misplacedPlaceholder: "deny" | "allow";
}

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
  /** WireGuard tunnels by name. */
  tunnels: Map<string, TunnelConfig>;
  rules: Rule[];
}
