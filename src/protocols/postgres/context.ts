/**
 * What the Postgres gateway needs from the rest of the gateway, as narrow callbacks (DESIGN.md
 * §2): this module never imports config, policy, audit, credentials or agents.
 *
 * @module
 */

import type { ActionGuard, AgentFacts, ListenerHooks, NetServices } from "../../core/mod.ts";

/** A `postgres` endpoint as the listener sees it, read per connection so reloads apply. */
export interface PostgresRoute {
  name: string;
  /** The real database: `host:port`. */
  upstreamHost: string;
  upstreamPort: number;
  /** Where to dial instead (the endpoint's `upstream`). */
  dial?: { host: string; port: number };
  sslmode: "disable" | "prefer" | "require" | "verify-full";
  /** PEM roots for `verify-full` (default: the system roots). */
  caCert?: string;
  /** Answer agents' SSLRequest with TLS; `false` answers `N`. */
  listenTls: boolean;
}

/** The upstream login a credential resolves to. The password never leaves the session. */
export interface PostgresLogin {
  /** `kind.name` of the credential, for facts and receipts. */
  credential: string;
  user: string;
  password: string;
  database: string;
}

/** Why an agent may not log in; `reason` is agent-facing and names no secret. */
export interface LoginRefusal {
  reason: string;
  /** SQLSTATE to answer with (28000 invalid authorization, 28P01 wrong password…). */
  code: string;
  /** Operator-only hint (e.g. the command that fixes it). */
  fix?: string;
}

/** Limits read per connection. */
export interface PostgresLimits {
  /** Largest message an agent may send; beyond it the session ends with 54000. */
  maxMessageBytes: number;
  /** Time an agent has to finish TLS, startup and password. */
  startupTimeoutMs: number;
  /** Time to connect, negotiate TLS and log in to the upstream. */
  connectTimeoutMs: number;
}

/**
 * The SCRAM-SHA-256 verifiers of every active agent: one salt and iteration count (sent before
 * the agent is known) and each agent's StoredKey and ServerKey (RFC 5802 §3).
 */
export interface PostgresScramVerifiers {
  salt: Uint8Array;
  iterations: number;
  keys: { agent: AgentFacts; storedKey: Uint8Array; serverKey: Uint8Array }[];
}

/** Operator log levels. */
export type PostgresLogLevel = "debug" | "info" | "warn" | "error";

/** The callbacks the gateway hands the Postgres listeners. */
export interface PostgresContext {
  guard: ActionGuard;
  /** The agent whose token is `password`, or `null`. */
  authenticate(password: string): AgentFacts | null;
  /**
   * Verifiers for SCRAM logins; `null` (or no callback) when some agent has none, and agents are
   * asked for a cleartext password instead.
   */
  scramVerifiers?(): PostgresScramVerifiers | null;
  /** The endpoint under the config in force; `null` once a reload removed it. */
  route(endpoint: string): PostgresRoute | null;
  /** Resolves agent + endpoint + requested user/database to an upstream login. Never throws. */
  login(
    agent: AgentFacts,
    endpoint: string,
    user: string,
    database: string,
  ): Promise<PostgresLogin | LoginRefusal>;
  /** A certificate for `host`, signed by the gateway CA (cached). */
  leaf(host: string): Promise<{ certPem: string; keyPem: string }>;
  /** Listening, accepting and agent-side TLS. */
  net: NetServices;
  limits(): PostgresLimits;
  /** Whether any rule on the endpoint reads `sql.params` (then decisions wait for Bind). */
  readsParams(endpoint: string): boolean;
  log(level: PostgresLogLevel, message: string, fields?: Record<string, unknown>): void;
  /** Called with +1/-1 as agent connections open and close. */
  connections?(delta: number): void;
  /**
   * Whether the credentials `agent` logged in with still hold: `revoked` or `rotated` ends its
   * open sessions (asked by the listener's `endRevokedSessions()`). Absent: always `active`.
   */
  agentStanding?(agent: AgentFacts): "active" | "revoked" | "rotated";
  /** Called when the gateway ended an open session, with why. */
  sessionEnded?(cause: "revoked" | "rotated"): void;
  /**
   * Connection caps and handshake deadline for `endpoint`'s listener, and where its accept
   * trouble goes. Absent: no caps.
   */
  listenerHooks?(endpoint: string): ListenerHooks;
}
