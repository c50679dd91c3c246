// The login exchange with the real database, without sockets: StartupMessage, the authentication
// requests (cleartext, md5, SCRAM-SHA-256) and the parameters up to the first ReadyForQuery
// (protocol §55.2.1). _upstream.ts owns the connection; this file owns what is said on it.
import { md5Password, ScramClient, ScramError } from "./_scram.ts";
import {
  passwordMessage,
  saslInitialResponse,
  saslResponse,
  startupMessage as encodeStartup,
} from "./_encode.ts";
import { parseErrorFields } from "./_backend.ts";

/** Who to log in as. */
export interface UpstreamLogin {
  user: string;
  password: string;
  database: string;
  /** Other startup parameters (application_name, options, GUCs…). `user`, `database` and `replication` are dropped. */
  params: [string, string][];
}

/** What went wrong, coarsely, for the caller's verdict and the agent's error. */
export type UpstreamErrorKind =
  | "unavailable"
  | "timeout"
  | "tls"
  | "auth"
  | "rejected"
  | "protocol";

/**
 * A failed upstream login. Messages are the gateway's own words: they never carry the password and
 * never quote the server's error text (which names the user).
 */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  constructor(readonly kind: UpstreamErrorKind, message: string, readonly sqlstate: string) {
    super(message);
  }
}

/** A backend message: type byte, then int32 length (itself included), then body. */
export interface Message {
  type: string;
  body: Uint8Array;
  /** The whole message, type byte included. */
  raw: Uint8Array;
}

/** Login messages are small; a longer one is a broken or hostile server. */
export const MAX_MESSAGE_BYTES = 1 << 20;
// `replication` would turn the session into a walsender that takes BASE_BACKUP and friends, past
// the SQL rules; user and database come from the credential, never from the agent.
const DROPPED_PARAMS = new Set(["user", "database", "replication"]);
const KNOWN_SQLSTATES: Record<string, string> = {
  "28P01": "authentication failed",
  "28000": "the role may not log in",
  "3D000": "database does not exist",
  "53300": "too many connections",
  "57P03": "the server is starting up or shutting down",
};

/** What the login learnt (the socket-free part of UpstreamSession). */
export interface LoginResult {
  /** ParameterStatus pairs sent during login, in order (server_version, client_encoding, …). */
  parameters: [string, string][];
  /** NoticeResponse messages during login, raw (type byte included), to relay to the client. */
  notices: Uint8Array[];
  /** BackendKeyData, for CancelRequest; null when the server sent none. */
  backendKey: { pid: number; secret: Uint8Array } | null;
  /** Transaction status from the first ReadyForQuery. */
  status: "I" | "T" | "E";
}

/** The connection as the login sees it. */
export interface LoginIo {
  read(): Promise<Message>;
  send(bytes: Uint8Array): void;
  /** Races `promise` against the connection failing (timeout, abort, close). */
  until<T>(promise: Promise<T>): Promise<T>;
}

/**
 * The authentication exchange and the parameters up to ReadyForQuery (protocol §55.2.1), after
 * the StartupMessage has been sent.
 *
 * @throws {UpstreamError} kind "auth" (refused credential, unsupported method, SCRAM proof
 * failure), "rejected" (other login ErrorResponse) or "protocol" (out-of-order message).
 *
 * @example
 * ```ts
 * io.send(startupMessage(login));
 * const { parameters, backendKey, status } = await authenticate(io, login);
 * ```
 */
export async function authenticate(attempt: LoginIo, login: UpstreamLogin): Promise<LoginResult> {
  const result: LoginResult = { parameters: [], notices: [], backendKey: null, status: "I" };
  let scram: ScramClient | null = null;
  let scramStep = 0;
  let authenticated = false;
  const protocolError = (what: string) => new UpstreamError("protocol", what, "08P01");
  const authError = (what: string) => new UpstreamError("auth", what, "28000");
  for (;;) {
    const { type, body, raw } = await attempt.read();
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    if (type === "E") throw loginRejected(body);
    if (type === "N") {
      result.notices.push(raw);
    } else if (type === "R" && !authenticated && body.length >= 4) {
      const code = view.getInt32(0);
      const needsPassword = code === 3 || code === 5 || code === 10;
      if (needsPassword && (login.password === "" || login.password.includes("\0"))) {
        throw authError("server requires a password and the credential has none usable");
      }
      if (code === 0) {
        // Once SCRAM started, only a verified server signature may end it: a man in the middle
        // could otherwise skip SASLFinal and claim success.
        if (scram && scramStep !== 2) {
          throw authError("server ended SCRAM without proving the password");
        }
        authenticated = true;
      } else if (code === 3) {
        attempt.send(passwordMessage(login.password));
      } else if (code === 5 && body.length === 8) {
        attempt.send(passwordMessage(md5Password(login.user, login.password, body.slice(4))));
      } else if (code === 10 && !scram) {
        const mechanisms = new TextDecoder().decode(body.subarray(4)).split("\0").filter(Boolean);
        if (!mechanisms.includes("SCRAM-SHA-256")) {
          throw authError(
            `server offers no supported SASL mechanism (${mechanisms.join(", ").slice(0, 80)})`,
          );
        }
        scram = new ScramClient(login.password);
        const first = new TextEncoder().encode(scram.clientFirst());
        attempt.send(saslInitialResponse("SCRAM-SHA-256", first));
      } else if (code === 11 && scram && scramStep === 0) {
        scramStep = 1;
        const final = await attempt.until(
          scram.clientFinal(new TextDecoder().decode(body.subarray(4))).catch(scramFailed),
        );
        attempt.send(saslResponse(new TextEncoder().encode(final)));
      } else if (code === 12 && scram && scramStep === 1) {
        await scram.verifyServerFinal(new TextDecoder().decode(body.subarray(4))).catch(
          scramFailed,
        );
        scramStep = 2;
      } else if ([2, 6, 7, 8, 9].includes(code)) {
        throw authError(
          `server requires an unsupported authentication method (code ${code}: Kerberos/GSSAPI/SSPI)`,
        );
      } else {
        throw protocolError(`unexpected authentication request (code ${code})`);
      }
    } else if (type === "S" && authenticated) {
      const [name, value] = new TextDecoder().decode(body).split("\0");
      result.parameters.push([name, value ?? ""]);
    } else if (type === "K" && authenticated && body.length >= 8) {
      result.backendKey = { pid: view.getInt32(0), secret: body.slice(4) };
    } else if (type === "v") {
      // NegotiateProtocolVersion: the server ignores _pq_ options it does not know; carry on.
    } else if (
      type === "Z" && authenticated && body.length === 1 &&
      "ITE".includes(String.fromCharCode(body[0]))
    ) {
      result.status = String.fromCharCode(body[0]) as "I" | "T" | "E";
      return result;
    } else {
      throw protocolError(
        `unexpected message '${type.replace(/[^\x20-\x7e]/g, "?")}' during login`,
      );
    }
  }
}

function scramFailed(err: unknown): never {
  if (!(err instanceof ScramError)) throw err;
  // The server's signature proves it holds the verifier; without it this may be a man in the middle.
  const what = err.message.includes("signature")
    ? "the server could not prove it knows the password (SCRAM server signature mismatch)"
    : `SCRAM exchange failed: ${err.message}`;
  throw new UpstreamError("auth", what, "28000");
}

/** An ErrorResponse during login, reduced to its SQLSTATE: the message text names the user. */
function loginRejected(body: Uint8Array): UpstreamError {
  let sqlstate = "08P01";
  try {
    const code = parseErrorFields(body).get("C") ?? "";
    if (/^[0-9A-Z]{5}$/.test(code)) sqlstate = code;
  } catch {
    // A malformed ErrorResponse is still a refusal; its code stays unknown.
  }
  const known = KNOWN_SQLSTATES[sqlstate];
  const detail = known ? `SQLSTATE ${sqlstate}: ${known}` : `SQLSTATE ${sqlstate}`;
  if (sqlstate.startsWith("28")) {
    return new UpstreamError("auth", `upstream rejected the login (${detail})`, sqlstate);
  }
  return new UpstreamError("rejected", `upstream refused the session (${detail})`, sqlstate);
}

/**
 * The protocol 3.0 StartupMessage: the credential's user and database, then `login.params`
 * without `user`, `database` or `replication`.
 *
 * @throws {UpstreamError} kind "protocol" when a parameter name is empty or anything holds a NUL.
 *
 * @example
 * ```ts
 * socket.write(startupMessage({ user: "agent_ro", password, database: "app", params: [] }));
 * ```
 */
export function startupMessage(login: UpstreamLogin): Uint8Array {
  const pairs: [string, string][] = [["user", login.user], ["database", login.database]];
  for (const [name, value] of login.params) {
    if (!DROPPED_PARAMS.has(name)) pairs.push([name, value]);
  }
  // A NUL would end the string early and smuggle in another parameter; an empty name ends the list.
  if (pairs.some(([name, value]) => name === "" || (name + value).includes("\0"))) {
    throw new UpstreamError(
      "protocol",
      "startup parameter with an empty name or a NUL byte",
      "08P01",
    );
  }
  return encodeStartup(pairs);
}
