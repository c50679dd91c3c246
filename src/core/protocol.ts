/**
 * What a protocol declares to the rest of the gateway, as data: its family name, the facts its
 * rules read, how `clawpatrol test` derives them from a fixture, and the schemas config reads its
 * endpoint and credential blocks with. The one list of protocols is
 * `src/protocols/registry.ts`; config, policy and audit receive it as values of these types and
 * never import a protocol (DESIGN.md §2).
 *
 * @example
 * ```ts
 * const fields = { command: "string", keys: "list<string>" };
 * const redis: Protocol = {
 *   family: "redis",
 *   facets: [{ variable: "redis", type: "RedisFacts", fields }],
 *   endpoint: {
 *     read: (name, body) => ({
 *       protocol: "redis",
 *       name,
 *       source: body.source,
 *       listen: body.hostPort("listen"),
 *     }),
 *   },
 *   credentials: { redis_password: { settings: ["user"] } },
 * };
 * ```
 *
 * @module
 */

import type { Socket } from "node:net";
import type { AgentFacts } from "./action.ts";
import type { ActionGuard } from "./guard.ts";
import type { HttpInjector } from "./inject.ts";
import type { ListenerHooks, NetServices } from "./net.ts";
import type { LogLevel } from "./log.ts";

/**
 * A protocol family's name: the first label of `endpoint "<family>" NAME`, `Action.protocol`, a
 * receipt's `protocol`. Open on purpose: the families are whatever the registry registers, and
 * config checks every name it reads against them.
 */
export type ProtocolFamily = string;

/**
 * CEL field types by field name, as the CEL environment spells them: `string`, `int`, `bool`,
 * `dyn`, `list<string>`, `map<string, list<string>>`, or a message type the facet declares.
 */
export type FactFields = Readonly<Record<string, string>>;

/** One fact variable rules read (DESIGN.md §4), with its CEL schema. */
export interface Facet {
  /** The CEL variable: `http`, `sql`, `k8s`. */
  readonly variable: string;
  /** The CEL message type of the variable, e.g. `SqlFacts`. */
  readonly type: string;
  /** Its fields: a rule reading one it does not declare (`sql.verbb`) is a load error. */
  readonly fields: FactFields;
  /** Message types its fields use, by CEL type name (`http.graphql` is a `GraphqlFacts`). */
  readonly messages?: Readonly<Record<string, FactFields>>;
}

/** Facts for one action a rule fixture stands for, and what the protocol could not establish. */
export interface DerivedFacts {
  facts: Record<string, Record<string, unknown>>;
  unknown?: string[];
  /** The gateway refuses this action before any rule (a setting the protocol pins): why. */
  refusal?: string;
}

/**
 * Derives the facts a fixture case leaves out from those it gives, as the protocol does at the
 * gateway: one entry per action, or `null` to use the facts as given. Throwing fails the case
 * with the error's message.
 */
export type FixtureDeriver = (
  facts: Record<string, Record<string, unknown>>,
) => DerivedFacts[] | null;

/** Where a config block or attribute came from, for problems and messages. */
export interface Source {
  file: string;
  line: number;
}

/**
 * `unknown_placeholders` on an endpoint: `"deny"` refuses a request carrying placeholder-shaped
 * text that names no configured credential (a typo or a removed credential would otherwise
 * reach the upstream as is); `"allow"` forwards it, for upstreams that use `{{…}}` themselves.
 */
export type UnknownPlaceholders = "deny" | "allow";

/**
 * An endpoint as config, policy and the gateway see it whatever its family. A protocol's
 * endpoint type extends it with its own settings (`HttpsEndpoint`, `PostgresEndpoint`…), and
 * code that needs those narrows with the guard the protocol's `mod.ts` exports.
 */
export interface Endpoint {
  /** Its family: the first label of `endpoint "<family>" NAME`. */
  protocol: ProtocolFamily;
  name: string;
  source: Source;
  /**
   * Host names (lower case) or `*.suffix` wildcards it claims on the forward proxy. Config
   * refuses a host two endpoints claim: only the first would ever match.
   */
  hosts?: string[];
  /** `host:port` of its own listener, bound when the gateway starts. */
  listen?: string;
  /** What `{{…}}`-shaped text naming no credential does; absent: as `"deny"`. */
  unknownPlaceholders?: UnknownPlaceholders;
}

/**
 * Typed reads of one block body, given to a protocol's schema by config. Every getter marks the
 * attribute as read (config reports the ones no getter asked for) and reports a value of the
 * wrong type against its line, returning the fallback or `undefined` instead: a schema reports
 * what it checks beyond the type with {@linkcode BodyReader.problem} and never throws.
 */
export interface BodyReader {
  /** Where the block starts. */
  readonly source: Source;
  /** Whether the body sets `name`. */
  has(name: string): boolean;
  string(name: string): string | undefined;
  /** A string the block must set; its absence is reported. */
  required(name: string): string | undefined;
  boolean(name: string, fallback: boolean): boolean;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  stringList(name: string): string[] | undefined;
  /** A list of whole numbers, e.g. `ports = [443, 8443]`. */
  integerList(name: string): number[] | undefined;
  /** `host:port` with a numeric port, as listen and upstream settings take it. */
  hostPort(name: string): string | undefined;
  /** A PEM certificate, usually written `"<<file:ca.pem>>"`. */
  pem(name: string): string | undefined;
  /** Reports a problem against the block, or against the line of `field` when given. */
  problem(message: string, field?: string): void;
}

/** How a protocol reads `endpoint "<family>" NAME { … }` (DESIGN.md §3). */
export interface EndpointSchema {
  /**
   * Reads one body into the family's endpoint, `protocol` set to the family. Problems go to
   * `body`, and any problem refuses the whole config: a value read beside one needs only the
   * right type, never to be usable.
   */
  read(name: string, body: BodyReader): Endpoint;
}

/** A credential kind a protocol injects into its endpoints: the settings its block takes. */
export interface CredentialSchema {
  /**
   * Settings besides `endpoint(s)` and those every endpoint-bound credential takes (`env`,
   * `placeholder`, `inject`, `substitute_in`).
   */
  readonly settings: readonly string[];
  /** Of `settings`, the ones a block must set. */
  readonly required?: readonly string[];
  /**
   * Other families whose endpoints the kind also binds to (an `aws_credential` also mints the
   * bearer token of an EKS `kubernetes` endpoint). Absent: only the declaring family's.
   */
  readonly alsoFamilies?: readonly ProtocolFamily[];
  /**
   * Checks the block's settings beyond their type (a duration that does not parse); reports
   * with `problem`, against the setting's line when `field` is given. Absent: no checks.
   */
  readonly check?: (
    settings: Readonly<Record<string, string | string[]>>,
    problem: (message: string, field?: string) => void,
  ) => void;
}

/** A registered protocol, as config, policy, audit and the CLI see it. */
export interface Protocol {
  /** Its family name, unique in the registry. */
  readonly family: ProtocolFamily;
  /**
   * The facets its rules see, its own first (kubernetes rules read `k8s`, then `http`). Every
   * rule also sees `agent`, which belongs to the gateway, not to a protocol.
   */
  readonly facets: readonly Facet[];
  /**
   * Builds the deriver `clawpatrol test` replays this family's fixture cases with. Called once
   * per run, and only for a config with an endpoint of the family: a parser may be costly to
   * load. Absent: cases are decided on the facts they give.
   */
  readonly fixtureFacts?: () => Promise<FixtureDeriver>;
  /**
   * How config reads its `endpoint "<family>" NAME` blocks. Absent: config refuses every
   * endpoint of the family, so its rules never load half-read.
   */
  readonly endpoint?: EndpointSchema;
  /** The credential kinds it injects into its endpoints, by kind (`bearer_token`…). */
  readonly credentials?: Readonly<Record<string, CredentialSchema>>;
  /**
   * The `host:port`s one of its endpoints dials (a host may be a `*.suffix` wildcard), so the
   * gateway's network grant names them and nothing else. Absent: its endpoints dial nothing.
   */
  readonly upstreams?: (endpoint: Endpoint) => string[];
  /**
   * The host names (lower case; `*.suffix` wildcards allowed) agents use for one of its
   * endpoints: what the gateway's DNS responder answers with a virtual IP, so an agent that
   * dials the real name reaches the gateway instead. Absent: none.
   */
  readonly names?: (endpoint: Endpoint) => string[];
  /**
   * Environment variables that let an agent's tools reach one of its endpoints' own listener
   * with a credential its profile holds (libpq's `PG*` for PostgreSQL), for `env` and `run`. The
   * CLI applies it to the first such credential of the family. Absent: none.
   */
  readonly agentEnvironment?: (
    endpoint: Endpoint,
    credential: HeldCredential,
    context: AgentEnvironmentContext,
  ) => [string, string][];
  /**
   * Starts the listener of one of its endpoints that sets `listen`; the gateway calls it once
   * per such endpoint, in config order, and closes them all on stop. Absent: its endpoints
   * are reached some other way (the forward proxy, by host).
   */
  readonly listen?: ProtocolListen;
  /**
   * How connections to the virtual IPs of its endpoints' {@linkcode Protocol.names} are served
   * (transparent interception, DESIGN.md §9). Absent: its names get no listener.
   */
  readonly intercept?: ProtocolIntercept;
}

/**
 * Transparent interception of one family: the ports agents dial its endpoints' names on (443 for
 * HTTPS, a database server's port), and who serves what arrives there. `"proxy"`: the forward
 * proxy, as if the agent had sent CONNECT to the name (families that ride HTTPS); `"own"`: the
 * family's {@linkcode Interceptor}.
 */
export type ProtocolIntercept =
  | { readonly via: "proxy"; ports(endpoint: Endpoint): number[] }
  | {
    readonly via: "own";
    ports(endpoint: Endpoint): number[];
    /** Starts the family's interceptor; called once, when some endpoint of it is intercepted. */
    open(services: ProtocolServices): Promise<Interceptor>;
  };

/**
 * A connection that reached an endpoint through its virtual IP, its agent already named by its
 * source address: no token travels in it.
 */
export interface InterceptedConnection {
  socket: Socket;
  /** The name the virtual IP stands for: what TLS must name, what the agent asked for. */
  host: string;
  /** The port the agent dialled. */
  port: number;
  endpoint: string;
  agent: AgentFacts;
  /** The agent its source stands for now: `null` once the agent or its address is gone. */
  still(): AgentFacts | null;
}

/** Serves a family's intercepted connections, whichever endpoint each is for. */
export interface Interceptor {
  /** Serves one connection until it ends; should not throw. */
  serve(connection: InterceptedConnection): Promise<void>;
  /** Ends every connection it serves (with `reason` told, as a listener's close does). */
  close(reason?: string): Promise<void>;
  /** Ends the sessions of agents revoked since they connected. */
  endRevokedSessions(): void;
}

/**
 * The agents, as a protocol's listener authenticates them: by name and token (the proxy's
 * Basic credentials), by token alone (a PostgreSQL password, a bearer token), or by SCRAM.
 */
export interface AgentAuthentication {
  /** The agent `name` is if `token` is its token, or `null`. */
  authenticate(name: string, token: string): AgentFacts | null;
  /** The agent whose token is `token`, or `null`. */
  authenticateToken(token: string): AgentFacts | null;
  /**
   * `authenticateToken(token)` for a connection that authenticated as `agent` with `token`
   * before: cheaper while the agents have not changed since.
   */
  reauthenticateToken(agent: AgentFacts, token: string): AgentFacts | null;
  /**
   * The SCRAM-SHA-256 verifiers of every active agent (RFC 5802 §3): one salt and iteration
   * count, sent before the agent is known; `null` when some agent has none.
   */
  scramVerifiers(): ScramVerifiers | null;
  /** Whether the token `agent` authenticated with still holds: open sessions end otherwise. */
  standing(agent: AgentFacts): "active" | "revoked" | "rotated";
}

/** See {@linkcode AgentAuthentication.scramVerifiers}. */
export interface ScramVerifiers {
  salt: Uint8Array;
  iterations: number;
  keys: { agent: AgentFacts; storedKey: Uint8Array; serverKey: Uint8Array }[];
}

/** The `gateway.limits` in force a listener reads per connection or request. */
export interface ProtocolLimits {
  /** Request bytes buffered for rules (the largest PostgreSQL message an agent may send). */
  bodyBufferBytes: number;
  /** Time a client has to send a request head (finish a PostgreSQL startup). */
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  upstreamTimeoutMs: number;
}

/** What {@linkcode Protocol.agentEnvironment} knows of the agent and the gateway. */
export interface AgentEnvironmentContext {
  /** The agent's token (how agents authenticate to the gateway's listeners). */
  token: string;
  /** The gateway CA's certificate file, for clients that verify the listener. */
  caPath: string;
  /** Where the agent reaches the endpoint's listener: `host:port`, a wildcard bind as loopback. */
  address: string;
  /**
   * The agent dials the endpoint's own name and is intercepted (`run --isolate`): its source
   * address names it, so no token is set, and the gateway's certificate names `address`'s host.
   */
  transparent?: boolean;
  /** Tells the user something the environment cannot say (printed on stderr). */
  warn(message: string): void;
}

/** A credential an agent's profile holds on an endpoint, without its secret. */
export interface HeldCredential {
  /** `kind.name`, for facts and receipts. */
  ref: string;
  name: string;
  kind: string;
  /** The block's settings (`user`, `database`…), as its credential schema declares them. */
  settings: Readonly<Record<string, unknown>>;
}

/** An upstream failure, for metrics: the protocol label is the reporter's own. */
export interface UpstreamFailureReport {
  protocol: ProtocolFamily;
  endpoint: string | null;
  cause: string;
}

/** Metrics a listener reports to, with its protocol label already filled in. */
export interface ProtocolMetrics {
  /** +1/-1 as agent connections open and close. */
  connections(delta: number): void;
  /** The gateway ended an open session, with why. */
  sessionEnded(cause: "revoked" | "rotated"): void;
  upstreamFailed(failure: UpstreamFailureReport): void;
  /** A request retried once on a fresh upstream connection. */
  upstreamRetried(failure: UpstreamFailureReport): void;
}

/**
 * What the gateway hands every listener of one family, whatever the family: getters read the
 * config in force, so a reload applies to the next connection or action. A protocol adapts it
 * to its own narrow context; it never names a family, so adding a protocol adds nothing here.
 */
export interface ProtocolServices {
  /** Decides and records every action (DESIGN.md §2). */
  readonly guard: ActionGuard;
  /** Listening, accepting and agent-side TLS: the sockets are `net/`'s. */
  readonly net: NetServices;
  readonly agents: AgentAuthentication;
  /** A certificate for `host`, signed by the gateway CA (cached). */
  leaf(host: string): Promise<{ certPem: string; keyPem: string }>;
  limits(): ProtocolLimits;
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
  readonly metrics: ProtocolMetrics;
  /** Caps, handshake deadline and accept-trouble reports for `endpoint`'s listener. */
  listenerHooks(endpoint: string): ListenerHooks;
  /** The endpoint named `name` under the config in force; `undefined` once a reload removed it. */
  endpoint(name: string): Endpoint | undefined;
  /** Whether `agent`'s profile reaches `endpoint` (lists it, or holds a credential on it). */
  reaches(agent: AgentFacts, endpoint: string): boolean;
  /** Whether some rule on `endpoint` reads `field` (`sql.params`): costly facts are skipped otherwise. */
  reads(endpoint: string, field: string): boolean;
  /** Credentials of `kind` `agent`'s profile holds on `endpoint`, in profile order. */
  heldCredentials(agent: AgentFacts, endpoint: string, kind: string): HeldCredential[];
  /** A credential's secret from the vault, `null` when unset; throws when it cannot be read. */
  secret(name: string): Promise<string | null>;
  /**
   * Injects credentials into an HTTP-shaped request (https and kubernetes ride HTTP). Composed
   * by the gateway from `credentials/`, which protocols may not import.
   */
  readonly injectHttp: HttpInjector;
}

/** One running per-endpoint listener, whatever its family. */
export interface ProtocolListener {
  /** The endpoint it serves. */
  readonly endpoint: string;
  /** Where it listens (port 0 resolved). */
  readonly address: { hostname: string; port: number };
  /** Where agents reach it, as the startup line prints it (`host:port`, `https://host:port`). */
  readonly url: string;
  /**
   * Stops accepting and ends its connections. With `reason` (its endpoint was removed or moved
   * by a reload), open sessions are first told, in the protocol's own terms, with a receipt.
   */
  close(reason?: string): Promise<void>;
  /** Ends the open sessions of agents revoked or rotated since they authenticated. */
  endRevokedSessions(): void;
}

/**
 * Starts the listener of one endpoint of the family on `endpoint.listen`; rejects when it
 * cannot listen. See {@linkcode Protocol.listen}.
 */
export type ProtocolListen = (
  endpoint: Endpoint,
  services: ProtocolServices,
) => Promise<ProtocolListener>;

/**
 * Splits a `host:port` setting (IPv6 in brackets) as `listen` and `upstream` take it.
 *
 * @example
 * ```ts
 * splitHostPort("[::1]:5432"); // ["::1", 5432]
 * ```
 */
export function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  return [host, Number(address.slice(at + 1))];
}
