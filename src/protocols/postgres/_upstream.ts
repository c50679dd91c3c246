// The gateway's own login to the real database: TCP, optional TLS (libpq's sslmode semantics),
// StartupMessage and password authentication with the gateway-held credential. The agent never
// sees this exchange; it gets the logged-in socket to relay through.
import { isIP, type Socket } from "node:net";
import {
  authenticate,
  type LoginResult,
  MAX_MESSAGE_BYTES,
  type Message,
  startupMessage,
  UpstreamError,
  type UpstreamLogin,
} from "./_upstream_login.ts";
import { cancelRequest, sslRequest } from "./_encode.ts";
import { joinBytes, type NetServices } from "../../core/mod.ts";
import type { PostgresRoute } from "./context.ts";
import { serverSettingRefusal } from "./_pinned.ts";

export { UpstreamError, type UpstreamErrorKind, type UpstreamLogin } from "./_upstream_login.ts";

/** Where the database is and how to reach it. */
export interface UpstreamTarget {
  host: string;
  port: number;
  /** Where to dial instead of `host:port` (the endpoint's `upstream`); TLS still checks `host`. */
  dial?: { host: string; port: number };
  /** libpq sslmode: `prefer` and `require` encrypt without authenticating the server; only `verify-full` does. */
  sslmode: "disable" | "prefer" | "require" | "verify-full";
  /** PEM roots for verify-full (default: system roots). */
  caCert?: string;
  /** Budget for the whole connect + TLS + login. */
  connectTimeoutMs: number;
  /** The gateway's sockets: connecting, and TLS on top. */
  net: Pick<NetServices, "connect" | "secureClient">;
}

/** A logged-in server connection, ready for the client's first query. */
export interface UpstreamSession extends LoginResult {
  /**
   * Plain or TLS socket, paused with no 'data' listener: attach one, then call `resume()`.
   * A no-op 'error' listener stays attached so an error before the caller's own listener cannot
   * crash the process; the socket still emits 'close'.
   */
  socket: Socket;
  /** Server bytes already read past the login's first ReadyForQuery (usually empty). */
  pending: Uint8Array;
  tls: boolean;
}

const SSL_REQUEST = sslRequest();
/** Why a dial the gateway's permissions do not cover failed, for the operator log. */
const OUTSIDE_GRANT =
  "is outside the gateway's network grant: restart the gateway (through the launcher) to apply the config that added it";
const CERT_ERRORS = /CERT|UNABLE_TO|SELF_SIGNED|ALTNAME|HOSTNAME|VERIFY/;
type Phase = "connect" | "tls" | "login";

/** One connection attempt: every failure path funnels through `fail`, which destroys the sockets. */
class Attempt {
  readonly tcp: Socket;
  socket: Socket;
  tls = false;
  #buffer: Uint8Array = new Uint8Array(0);
  #phase: Phase = "connect";
  #error: UpstreamError | null = null;
  #rejectFailed!: (err: UpstreamError) => void;
  readonly failed = new Promise<never>((_, reject) => (this.#rejectFailed = reject));
  #wake: (() => void) | null = null;
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #onData = (chunk: Uint8Array) => {
    this.#buffer = joinBytes([this.#buffer, chunk]);
    this.#wake?.();
  };
  readonly #onError = (err: Error & { code?: string }) => this.fail(this.#socketError(err));
  readonly #onClose = () =>
    this.fail(
      new UpstreamError(
        "unavailable",
        `server closed the connection during ${this.#phase}`,
        "08006",
      ),
    );
  readonly #onAbort = () =>
    this.fail(new UpstreamError("timeout", "upstream login aborted", "08001"));

  constructor(readonly target: UpstreamTarget, readonly signal?: AbortSignal) {
    const { port } = target;
    // net.connect throws synchronously on a bad port; refuse before any timer or socket exists.
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UpstreamError("unavailable", `invalid port '${port}'`, "08001");
    }
    this.failed.catch(() => {}); // observed through races; never an unhandled rejection
    this.#timer = setTimeout(() => {
      const what = this.#phase === "connect" ? "connect to" : `complete ${this.#phase} with`;
      this.fail(
        new UpstreamError(
          "timeout",
          `could not ${what} the database server within ${target.connectTimeoutMs} ms`,
          "08001",
        ),
      );
    }, target.connectTimeoutMs);
    const dial = target.dial ?? target;
    this.tcp = this.socket = target.net.connect(dial.host, dial.port);
    this.#listen(this.tcp);
    signal?.addEventListener("abort", this.#onAbort);
    if (signal?.aborted) this.#onAbort();
  }

  fail(err: UpstreamError): void {
    if (this.#error) return;
    this.#error = err;
    this.#cleanup();
    this.socket.destroy();
    this.tcp.destroy();
    this.#rejectFailed(err);
  }

  /** Stops the attempt's timers and listeners, leaving the socket paused for its new owner. */
  finish(): UpstreamError | null {
    if (!this.#error) this.#cleanup();
    return this.#error;
  }

  #cleanup(): void {
    clearTimeout(this.#timer);
    this.signal?.removeEventListener("abort", this.#onAbort);
    // Only the outermost socket is paused: under TLS the raw one feeds the TLS layer.
    this.socket.pause();
    for (const socket of new Set([this.socket, this.tcp])) {
      socket.off("data", this.#onData).off("error", this.#onError).off("close", this.#onClose);
      socket.on("error", () => {}); // see UpstreamSession.socket
    }
  }

  #listen(socket: Socket): void {
    socket.on("data", this.#onData).on("error", this.#onError).on("close", this.#onClose);
  }

  #socketError(err: Error & { code?: string }): UpstreamError {
    const code = err.code ?? "unknown error";
    if (err.name === "NotCapable") {
      // A config reloaded with an upstream the running gateway was never granted.
      const where = `${this.target.host}:${this.target.port}`;
      return new UpstreamError("unavailable", `${where} ${OUTSIDE_GRANT}`, "08001");
    }
    if (this.#phase === "connect") {
      return new UpstreamError(
        "unavailable",
        `cannot reach the database server (${code})`,
        "08001",
      );
    }
    if (this.#phase === "tls") {
      const reason = code === "ERR_TLS_CERT_ALTNAME_INVALID"
        ? "hostname mismatch: the server certificate is not valid for this host"
        : CERT_ERRORS.test(code)
        ? `certificate verify failed (${code})`
        : `TLS handshake failed (${code})`;
      return new UpstreamError("tls", reason, "08001");
    }
    return new UpstreamError(
      "unavailable",
      `connection to the database server lost (${code})`,
      "08006",
    );
  }

  async until<T>(promise: Promise<T>): Promise<T> {
    return await Promise.race([promise, this.failed]);
  }

  async connected(): Promise<void> {
    await this.until(new Promise((resolve) => this.tcp.once("connect", resolve)));
    this.tcp.setNoDelay(true);
    this.#phase = this.target.sslmode === "disable" ? "login" : "tls";
  }

  /** SSLRequest (protocol §55.2.10) and, when the server agrees, the TLS handshake. */
  async negotiateTls(): Promise<void> {
    const { sslmode, host, caCert } = this.target;
    this.send(SSL_REQUEST);
    while (this.#buffer.length === 0) await this.until(new Promise<void>((r) => (this.#wake = r)));
    const answer = String.fromCharCode(this.#buffer[0]);
    if (answer !== "S" && answer !== "N") {
      throw new UpstreamError("protocol", "unexpected answer to SSLRequest", "08P01");
    }
    // CVE-2021-23222: bytes that follow the answer arrived unauthenticated; never use them.
    if (this.#buffer.length > 1) {
      throw new UpstreamError("protocol", "server sent data before the TLS handshake", "08P01");
    }
    this.#buffer = new Uint8Array(0);
    if (answer === "N") {
      if (sslmode !== "prefer") {
        throw new UpstreamError(
          "tls",
          "server does not support SSL, but sslmode requires it",
          "08001",
        );
      }
      this.#phase = "login";
      return;
    }
    this.tcp.pause();
    this.tcp.off("data", this.#onData);
    const verify = sslmode === "verify-full";
    const secure = this.target.net.secureClient(this.tcp, {
      host, // checkServerIdentity matches this against DNS or IP SANs
      servername: isIP(host) ? undefined : host, // RFC 6066 §3: no SNI for IP literals
      rejectUnauthorized: verify,
      ca: verify && caCert ? [caCert] : undefined,
    });
    this.socket = secure;
    this.#listen(secure);
    await this.until(new Promise((resolve) => secure.once("secureConnect", resolve)));
    this.tls = true;
    this.#phase = "login";
  }

  send(bytes: Uint8Array): void {
    if (!this.#error) this.socket.write(bytes);
  }

  /** The next complete backend message (type byte, int32 length including itself, body). */
  async read(): Promise<Message> {
    for (;;) {
      if (this.#buffer.length >= 5) {
        const length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getInt32(1);
        if (length < 4 || length > MAX_MESSAGE_BYTES) {
          this.fail(
            new UpstreamError("protocol", "malformed message from the database server", "08P01"),
          );
        } else if (this.#buffer.length >= length + 1) {
          const raw = this.#buffer.slice(0, length + 1);
          this.#buffer = this.#buffer.subarray(length + 1);
          return { type: String.fromCharCode(raw[0]), body: raw.subarray(5), raw };
        }
      }
      await this.until(new Promise<void>((r) => (this.#wake = r)));
    }
  }

  /** Bytes received but not yet consumed. */
  rest(): Uint8Array {
    return this.#buffer.slice();
  }
}

/**
 * Connects and logs in to the real database with the gateway-held credential, per libpq's sslmode
 * semantics. Resolves at the first ReadyForQuery. An abort via `signal` destroys the attempt and
 * rejects with kind "timeout" ("upstream login aborted").
 *
 * @throws {UpstreamError} on every failure, with the sockets already destroyed.
 *
 * @example
 * ```ts
 * const session = await connectUpstream(
 *   { host: "db.internal", port: 5432, sslmode: "verify-full", connectTimeoutMs: 10_000 },
 *   { user: "agent_ro", password, database: "app", params: [["application_name", "psql"]] },
 * );
 * session.socket.on("data", relayToAgent);
 * session.socket.resume();
 * ```
 */
export async function connectUpstream(
  target: UpstreamTarget,
  login: UpstreamLogin,
  signal?: AbortSignal,
): Promise<UpstreamSession> {
  const attempt = new Attempt(target, signal);
  try {
    await attempt.connected();
    if (target.sslmode !== "disable") await attempt.negotiateTls();
    attempt.send(startupMessage(login));
    const session = await authenticate(attempt, login);
    const err = attempt.finish();
    if (err) throw err;
    return { ...session, socket: attempt.socket, pending: attempt.rest(), tls: attempt.tls };
  } catch (err) {
    // The thrown error wins over one recorded meanwhile: an ErrorResponse followed at once by
    // the server closing must still report the server's SQLSTATE.
    const failure = err instanceof UpstreamError
      ? err
      : new UpstreamError("protocol", "upstream login failed", "08P01");
    attempt.fail(failure);
    throw failure;
  }
}

/**
 * Sends a CancelRequest for `key` on a fresh connection, then waits for the server to close it.
 * TLS only when the target's sslmode requires it (require, verify-full). Never throws: a cancel
 * is best effort, and is bounded by `connectTimeoutMs`.
 *
 * @example
 * ```ts
 * if (session.backendKey) await cancelUpstream(target, session.backendKey);
 * ```
 */
export async function cancelUpstream(
  target: UpstreamTarget,
  key: { pid: number; secret: Uint8Array },
): Promise<void> {
  const encrypted = target.sslmode === "require" || target.sslmode === "verify-full";
  let attempt: Attempt | undefined;
  try {
    attempt = new Attempt({ ...target, sslmode: encrypted ? target.sslmode : "disable" });
    await attempt.connected();
    if (encrypted) await attempt.negotiateTls();
    attempt.send(cancelRequest(key.pid, key.secret));
    for (;;) await attempt.read(); // ends when the server closes the connection
  } catch {
    // Best effort by contract.
  } finally {
    attempt?.fail(new UpstreamError("protocol", "cancel done", "00000"));
  }
}

/**
 * Why the logged-in upstream session cannot be judged (a server, database or role default such
 * as `standard_conforming_strings = off`), or null.
 */
export function upstreamSettingRefusal(upstream: UpstreamSession): string | null {
  for (const [name, value] of upstream.parameters) {
    const refusal = serverSettingRefusal(name, value);
    if (refusal) return refusal;
  }
  return null;
}

/** What the agent is told when the gateway's own login upstream failed with `err`. */
export function upstreamMessage(err: UpstreamError): string {
  switch (err.kind) {
    case "auth":
      return "the upstream database refused the gateway's login for this credential";
    case "unavailable":
    case "timeout":
      return "the upstream database is unavailable";
    case "tls":
      return "could not establish TLS with the upstream database";
    default:
      return `the upstream database refused the connection (${err.sqlstate})`;
  }
}

/** Where `route`'s database is and how to reach it (through `net`), within `connectTimeoutMs`. */
export function upstreamTarget(
  route: PostgresRoute,
  { connectTimeoutMs, net }: Pick<UpstreamTarget, "connectTimeoutMs" | "net">,
): UpstreamTarget {
  return {
    net,
    host: route.upstreamHost,
    port: route.upstreamPort,
    ...route.dial ? { dial: route.dial } : {},
    sslmode: route.sslmode,
    caCert: route.caCert,
    connectTimeoutMs,
  };
}
