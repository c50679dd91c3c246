/**
 * The agent side of a Postgres connection up to a resolved login: SSLRequest (TLS with a
 * gateway-minted certificate, or `N`), GSSENCRequest (`N`), CancelRequest, the StartupMessage,
 * and the agent's login with its token: SCRAM-SHA-256 (with channel binding over TLS) when every
 * agent has a SCRAM verifier, a cleartext password request otherwise.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { AgentFacts } from "../../core/mod.ts";
import type { LoginRefusal, PostgresContext, PostgresLogin, PostgresRoute } from "./context.ts";
import { FrontendDecoder, ProtocolError } from "./_frontend.ts";
import { authenticationCleartextPassword, negotiateProtocolVersion } from "./_backend.ts";
import { SocketReader, StartupAborted } from "./_reader.ts";
import {
  authenticationSasl,
  authenticationSaslData,
  parseSaslInitialResponse,
  ScramServer,
  tlsServerEndPoint,
} from "./_scram_server.ts";

/** One SecureContext per minted leaf, shared by every agent connection that uses it. */

const SSL_YES = new Uint8Array([0x53]); // 'S'
const SSL_NO = new Uint8Array([0x4e]); // 'N'

/** A startup the gateway refuses: answered with a FATAL ErrorResponse and a receipt. */
export class StartupRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly agent: AgentFacts | null = null,
    readonly user = "",
  ) {
    super(message);
    this.name = "StartupRefused";
  }
}

/** An agent that completed startup and authentication. */
export interface StartedSession {
  kind: "session";
  socket: Socket;
  /** Holds any bytes the agent sent after its password (a pipelined first query). */
  decoder: FrontendDecoder;
  agent: AgentFacts;
  login: PostgresLogin;
  /** Startup parameters other than user and database, in the agent's order. */
  params: [string, string][];
  /** The protocol minor version the agent asked for (answered with NegotiateProtocolVersion). */
  minor: number;
  tls: boolean;
}

/** A CancelRequest: the connection carries nothing else. */
export interface CancelPacket {
  kind: "cancel";
  pid: number;
  secret: Uint8Array;
}

/** Where the startup stands when it fails, so the caller can answer over the right socket. */
export interface StartupState {
  socket: Socket;
  decoder: FrontendDecoder;
}

/**
 * Runs the startup phase. Throws StartupRefused (answer FATAL), ProtocolError (answer FATAL)
 * or StartupAborted (just close). `state.socket` follows the TLS upgrade.
 */
export async function startup(
  state: StartupState,
  route: PostgresRoute,
  ctx: PostgresContext,
  deadline: Promise<never>,
  identified?: IdentifiedAgent,
): Promise<StartedSession | CancelPacket> {
  let reader = new SocketReader(state.socket, deadline);
  // Read before any TLS upgrade: the TLS socket wraps a stream and may not know the peer.
  const client = clientAddress(state.socket);
  let secured = false;
  let endPoint: Uint8Array | null = null;
  let asked = false;
  try {
    for (;;) {
      const packet = await nextPacket(reader, state.decoder);
      if (packet.kind === "cancel") {
        return { kind: "cancel", pid: packet.pid, secret: packet.secret };
      }
      if (packet.kind === "gssenc_request") {
        await write(state.socket, SSL_NO);
        continue;
      }
      if (packet.kind === "ssl_request") {
        if (asked) throw new ProtocolError("SSLRequest sent twice", "08P01");
        asked = true;
        // An intercepted connection dialled the database's own name: offer TLS for it.
        if (!route.listenTls && !identified) {
          await write(state.socket, SSL_NO);
          continue;
        }
        // Bytes sent after SSLRequest but before the handshake would be read as if they came
        // over TLS (CVE-2021-23214): the client must wait for the answer.
        if (state.decoder.buffered > 0 || reader.detach().length > 0) {
          throw new ProtocolError("received unencrypted data after SSL request", "08P01");
        }
        await write(state.socket, SSL_YES);
        const host = identified?.host ?? localHost(state.socket);
        ({ socket: state.socket, endPoint } = await secure(state.socket, host, ctx, deadline));
        secured = true;
        reader = new SocketReader(state.socket, deadline);
        continue;
      }
      const options = { reader, route, ctx, secured, endPoint, client, identified };
      return await authenticate(state, packet, options);
    }
  } finally {
    // Whatever happens next (relay or FATAL) reads the socket its own way.
    for (const chunk of reader.detach()) state.decoder.push(chunk);
  }
}

async function nextPacket(reader: SocketReader, decoder: FrontendDecoder) {
  for (;;) {
    const packet = decoder.nextStartup();
    if (packet) return packet;
    decoder.push(await reader.read());
  }
}

/**
 * The address the agent dialled (127.0.0.1, ::1): the leaf names it, so verify-full clients that
 * trust the gateway CA accept it.
 */
function localHost(socket: Socket): string {
  return (socket.localAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
}

async function secure(
  socket: Socket,
  host: string,
  ctx: PostgresContext,
  deadline: Promise<never>,
): Promise<{ socket: Socket; endPoint: Uint8Array | null }> {
  const leaf = await ctx.leaf(host);
  const secured = ctx.net.secureServer(socket, ctx.net.secureContext(leaf));
  // A failed handshake (garbage instead of a ClientHello) ends the connection: there is no
  // channel left to answer on.
  await Promise.race([
    new Promise<void>((resolve, reject) => {
      secured.once("secure", resolve);
      secured.on("error", () => {
        secured.destroy();
        reject(new StartupAborted("tls"));
      });
      // After 'S' the client owes a handshake: closing instead is a failed handshake too
      // (the TLS layer may close without an error event when fed garbage).
      secured.once("close", () => reject(new StartupAborted("tls")));
    }),
    deadline,
  ]);
  return { socket: secured, endPoint: tlsServerEndPoint(leaf.certPem) };
}

/** Where a StartupMessage arrived and what the login needs to answer it. */
interface LoginOptions {
  reader: SocketReader;
  route: PostgresRoute;
  ctx: PostgresContext;
  /** Whether the agent upgraded to TLS before the StartupMessage. */
  secured: boolean;
  /** The tls-server-end-point channel binding, `null` without TLS. */
  endPoint: Uint8Array | null;
  /** The agent's address, `host:port`, for the operator's log. */
  client: string;
  identified: IdentifiedAgent | undefined;
}

/**
 * An agent its connection's source address already names (transparent interception): no password
 * is asked, and TLS names `host`, the database name the agent dialled.
 */
export interface IdentifiedAgent {
  agent: AgentFacts;
  host: string;
}

async function authenticate(
  state: StartupState,
  packet: { kind: "startup"; major: number; minor: number; params: [string, string][] },
  { reader, route, ctx, secured, endPoint, client, identified }: LoginOptions,
): Promise<StartedSession> {
  if (packet.major !== 3) {
    throw new StartupRefused(
      "0A000",
      `unsupported frontend protocol ${packet.major}.${packet.minor}: the gateway speaks 3.0`,
    );
  }
  let user = "";
  let database = "";
  const params: [string, string][] = [];
  for (const [key, value] of packet.params) {
    if (key === "user") user = value;
    else if (key === "database") database = value;
    else if (key === "replication") {
      if (value !== "false" && value !== "0" && value !== "off" && value !== "no") {
        throw new StartupRefused(
          "28000",
          "replication connections are not allowed through clawpatrol",
        );
      }
    } else params.push([key, value]);
  }
  if (user === "") {
    throw new StartupRefused("28000", "no PostgreSQL user name specified in startup packet");
  }
  database ||= user;
  const extensions = params.filter(([k]) => k.startsWith("_pq_.")).map(([k]) => k);
  if (packet.minor > 0 || extensions.length > 0) {
    // Newer clients ask for 3.x and protocol extensions: the gateway offers 3.0 and none.
    await write(state.socket, negotiateProtocolVersion(0, extensions));
  }
  const verifiers = identified ? null : ctx.scramVerifiers?.() ?? null;
  const agent = identified?.agent ??
    (verifiers
      ? await scramLogin(state, reader, new ScramServer(verifiers, endPoint), ctx)
      : await cleartextLogin(state, reader, ctx));
  if (!agent) {
    // Only the user is known: Postgres agents present a token and no name (libpq sends an
    // empty SCRAM username), and what was sent is never echoed nor logged.
    ctx.log("warn", "postgres login refused: the password is not an agent token", {
      endpoint: route.name,
      user,
      client,
      auth: verifiers ? "scram" : "cleartext",
    });
    throw new StartupRefused("28P01", wrongToken(user), null, user);
  }
  const login = await ctx.login(agent, route.name, user, database);
  if (isRefusal(login)) {
    if (login.fix) ctx.log("warn", `postgres login refused: ${login.reason}`, { fix: login.fix });
    throw new StartupRefused(login.code, login.reason, agent, user);
  }
  return {
    kind: "session",
    socket: state.socket,
    decoder: state.decoder,
    agent,
    login,
    params,
    minor: packet.minor,
    tls: secured,
  };
}

/**
 * PostgreSQL's own wording first (clients and scripts match on it), then what the password must
 * be: psql's user would otherwise try the database's password.
 */
export function wrongToken(user: string): string {
  return `password authentication failed for user "${user}": the password is your agent token (clawpatrol agent add / rotate)`;
}

/** `host:port` of the agent, for the operator's log. */
function clientAddress(socket: Socket): string {
  const host = (socket.remoteAddress ?? "unknown").replace(/^::ffff:/, "");
  if (socket.remotePort === undefined) return host;
  return host.includes(":") ? `[${host}]:${socket.remotePort}` : `${host}:${socket.remotePort}`;
}

function isRefusal(v: PostgresLogin | LoginRefusal): v is LoginRefusal {
  return "reason" in v;
}

async function cleartextLogin(
  state: StartupState,
  reader: SocketReader,
  ctx: PostgresContext,
): Promise<AgentFacts | null> {
  await write(state.socket, authenticationCleartextPassword());
  const token = passwordOf(await readResponse(reader, state.decoder));
  if (token === null) throw new ProtocolError("malformed password message", "08P01");
  return ctx.authenticate(token);
}

async function scramLogin(
  state: StartupState,
  reader: SocketReader,
  scram: ScramServer,
  ctx: PostgresContext,
): Promise<AgentFacts | null> {
  await write(state.socket, authenticationSasl(scram.mechanisms));
  const initial = await readResponse(reader, state.decoder);
  // A bare PasswordMessage (one string, NUL only at its end) cannot be a SASLInitialResponse,
  // which always carries a 4-byte length after the mechanism. Minimal clients answer any request
  // with the password: accepting it is the cleartext login every agent had before SCRAM, and
  // does not weaken SCRAM for clients that use it (they never send the token).
  const token = passwordOf(initial);
  if (token !== null && !scram.mechanisms.includes(token)) return ctx.authenticate(token);
  const serverFirst = scram.serverFirst(parseSaslInitialResponse(initial));
  await write(state.socket, authenticationSaslData(11, serverFirst));
  const final = await readResponse(reader, state.decoder);
  let clientFinal: string;
  try {
    clientFinal = new TextDecoder("utf-8", { fatal: true }).decode(final);
  } catch {
    throw new ProtocolError("malformed SCRAM message: invalid UTF-8", "08P01");
  }
  const outcome = scram.serverFinal(clientFinal);
  if (!outcome) return null;
  // AuthenticationOk follows with the rest of the login (listener.ts) once upstream is ready.
  await write(state.socket, authenticationSaslData(12, outcome.serverFinal));
  return outcome.agent;
}

/** The string of a PasswordMessage body, or `null` when the body is not exactly one string. */
function passwordOf(data: Uint8Array): string | null {
  const end = data.indexOf(0);
  return end === data.length - 1 ? new TextDecoder().decode(data.subarray(0, end)) : null;
}

/** The body of the agent's next 'p' message (password, SASLInitialResponse or SASLResponse). */
async function readResponse(reader: SocketReader, decoder: FrontendDecoder): Promise<Uint8Array> {
  for (;;) {
    const message = decoder.next();
    if (message) {
      if (message.type !== "password") {
        throw new ProtocolError(`expected a password message, got ${message.type}`, "08P01");
      }
      return message.data;
    }
    decoder.push(await reader.read());
  }
}

/** Writes and waits until the bytes are handed over (or the socket fails). */
export function write(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new StartupAborted("closed"));
    socket.write(bytes, (err) => err ? reject(new StartupAborted("closed")) : resolve());
  });
}
