/**
 * What protocols may ask of the network, as types only: `src/net/` owns every listening socket,
 * accept loop and TLS handshake towards agents, and the gateway hands protocols an implementation
 * of {@linkcode NetServices} (DESIGN.md §2: protocols never import `net/`).
 *
 * @module
 */

import type { Socket } from "node:net";
import type { ConnectionOptions, SecureContext, TLSSocket } from "node:tls";
import type { RelayHandle, RelayOptions, RelaySession } from "./session.ts";

/** What an agent over `max_connections_per_agent` is told, whatever the protocol. */
export const AGENT_CAP_REASON =
  "too many open connections for this agent: close some (or wait) and retry";

/** Why a connection was closed before being served (a metric label). */
export type RefusalCause = "unauthenticated_cap" | "agent_cap" | "handshake_timeout";

/** The caps in force (`gateway.limits`), read per connection so a reload applies to new ones. */
export interface AdmissionLimits {
  maxUnauthenticatedConnections: number;
  maxConnectionsPerAgent: number;
  handshakeTimeoutMs: number;
}

/** One admitted connection's standing, held by the protocol serving it. */
export interface Admission {
  /**
   * The connection proved it is `agent`: stops the handshake deadline and counts it against the
   * agent's cap. `false`: the agent is at its cap (counted as refused); the protocol answers in
   * its own terms and closes the connection. Later calls return the first answer.
   */
  authenticated(agent: string): boolean;
}

/** A run of failed accepts, from the first failure to the accept that worked again. */
export interface AcceptBurst {
  failures: number;
  durationMs: number;
}

/**
 * What the gateway hands a listener beyond serving: the limits it enforces and where it reports
 * refusals and accept trouble.
 */
export interface ListenerHooks {
  /** Caps and handshake deadline in force, read per connection. */
  limits(): AdmissionLimits;
  /** A connection closed unserved, with why. */
  refused(cause: RefusalCause): void;
  /** One failed accept; `cause` is the errno name (`EMFILE`) or `unknown`. */
  acceptFailed(cause: string): void;
  /** Accepting stopped working: the first failed accept of a burst. */
  acceptStalled(cause: string): void;
  /**
   * Accepting works again after `burst`, or (`closing`) the listener stopped in the middle of one:
   * either way the burst is over.
   */
  acceptRecovered(burst: AcceptBurst, closing: boolean): void;
}

/** How a listener serves what it accepts. */
export interface ServeOptions {
  /**
   * Serves one accepted connection; should not throw (a rejection is reported to `onError`).
   * `admission` is told when the connection authenticates (see {@linkcode Admission}).
   */
  serve(socket: Socket, admission: Admission): Promise<void>;
  /** Told about `serve` rejections. */
  onError(error: unknown): void;
  /** Called with +1/-1 as connections open and close. */
  connections?(delta: number): void;
  /**
   * Keep the socket writable after the client half-closes (an HTTP client that shuts down its
   * side after the request still gets the response). @default {false}
   */
  allowHalfOpen?: boolean;
  /** Caps, deadline and reports. Absent: no caps, no deadline, accept trouble unreported. */
  hooks?: ListenerHooks;
  /** Bytes a connection refused at accept gets before it is closed (a protocol-native error). */
  refusal?: Uint8Array;
}

/** A listening socket with its connections and the work serving them. */
export interface NetListener {
  /** The bound address (port 0 resolved). */
  readonly address: { hostname: string; port: number };
  /** Keeps `close()` waiting for `work` (side work a connection started, e.g. a cancel). */
  track(work: Promise<unknown>): void;
  /** Stops accepting, destroys every connection and waits for the work serving them. */
  close(): Promise<void>;
}

/** How a server handshake ended. */
export type Accepted =
  | { kind: "secure"; socket: TLSSocket }
  /** Garbage instead of a ClientHello, or too slow: the caller records why (agent-safe text). */
  | { kind: "failed"; reason: string }
  /** The agent left before finishing. */
  | { kind: "closed" };

/** A gateway-minted certificate and key, PEM. */
export interface LeafPem {
  certPem: string;
  keyPem: string;
}

/** How a client TLS handshake towards an upstream verifies it, and what it presents. */
export type ClientTlsOptions = Pick<
  ConnectionOptions,
  "host" | "servername" | "rejectUnauthorized" | "ca" | "cert" | "key" | "ALPNProtocols"
>;

/** The network as protocols use it; implemented by `src/net/`, handed over by the gateway. */
export interface NetServices {
  /** Listens on `host:port` (0: any free port); rejects with the OS error when it cannot. */
  listen(host: string, port: number, options: ServeOptions): Promise<NetListener>;
  /** The TLS server context for `leaf`, built once per leaf. */
  secureContext(leaf: LeafPem): SecureContext;
  /** Runs the server side of an HTTP/1.1 TLS handshake on `socket` within `timeoutMs`. */
  acceptTls(socket: Socket, context: SecureContext, timeoutMs: number): Promise<Accepted>;
  /** Opens a TCP connection to `host:port`; failures arrive as the socket's `error` event. */
  connect(host: string, port: number): Socket;
  /** Starts client-side TLS on the connected `socket` (an upstream that asked for it). */
  secureClient(socket: Socket, options: ClientTlsOptions): TLSSocket;
  /**
   * Starts server-side TLS with `context` on `socket`, for a protocol that negotiates TLS itself
   * (PostgreSQL' SSLRequest); the caller bounds and reports the handshake.
   */
  secureServer(socket: Socket, context: SecureContext): TLSSocket;
  /** Opens a TCP connection as a Deno connection (HTTP's upstream pool and passthrough). */
  dial(host: string, port: number): Promise<Deno.TcpConn>;
  /** Dials and starts TLS at once, presenting a client certificate when one is given. */
  dialTls(
    options: Deno.ConnectTlsOptions & Partial<Deno.TlsCertifiedKeyPem>,
  ): Promise<Deno.TlsConn>;
  /** Starts client-side TLS on a dialled Deno connection. */
  startTls(conn: Deno.TcpConn, options: Deno.StartTlsOptions): Promise<Deno.TlsConn>;
  /** Relays `session` between two connected sockets, executing its commands. */
  relay(agent: Socket, upstream: Socket, session: RelaySession, options: RelayOptions): RelayHandle;
}
