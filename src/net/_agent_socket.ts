/**
 * An accepted `Deno.TcpConn` as the node socket protocol code reads and writes. The listener
 * accepts with `Deno.listen` because node:net's server under Deno stops its accept loop for good
 * at the first failed accept (EMFILE: the listening socket stays bound, connections queue and are
 * never taken, and nothing is reported); `Deno.listen`'s `accept()` rejects and can be retried.
 *
 * @module
 */

import type net from "node:net";
import { Socket as NodeSocket } from "node:net";
import process from "node:process";
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";

// Reads start small, so an idle connection's pending read holds little memory, and grow while
// reads fill the buffer (a bulk transfer), as libuv's 64 KiB reads would.
const MIN_READ_BYTES = 4 * 1024;
const MAX_READ_BYTES = 64 * 1024;

/**
 * The Duplex surface protocol code uses (`data`/`end`/`close`, `write`, `end`, `destroy`,
 * `pause`/`resume`, `unshift`) plus the addresses and socket options of a `net.Socket`.
 * `tls.TLSSocket` wraps it through its stream path, as it wraps any Duplex.
 */
class AgentSocket extends Duplex {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: "IPv4" | "IPv6";
  readonly #conn: Deno.TcpConn;
  #reading = false;
  #readBytes = MIN_READ_BYTES;

  constructor(conn: Deno.TcpConn, allowHalfOpen: boolean) {
    // No read-ahead: bytes stay in the kernel until a consumer asks, as with a paused node
    // socket. tls.TLSSocket must find nothing buffered when it wraps the socket (Deno's
    // TLSSocket._start() dereferences a handle that garbage fed in at start has just destroyed).
    super({ allowHalfOpen, decodeStrings: false, readableHighWaterMark: 0 });
    this.#conn = conn;
    const local = conn.localAddr;
    const remote = conn.remoteAddr;
    this.localAddress = local.hostname;
    this.localPort = local.port;
    this.remoteAddress = remote.hostname;
    this.remotePort = remote.port;
    this.remoteFamily = remote.hostname.includes(":") ? "IPv6" : "IPv4";
  }

  setNoDelay(noDelay = true): this {
    this.#conn.setNoDelay(noDelay);
    return this;
  }

  address(): { address: string; family: string; port: number } {
    const family = this.localAddress.includes(":") ? "IPv6" : "IPv4";
    return { address: this.localAddress, family, port: this.localPort };
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#pump();
  }

  /** Reads while the consumer is flowing and wants more, until the end or an error. */
  async #pump(): Promise<void> {
    try {
      for (;;) {
        const buffer = new Uint8Array(this.#readBytes);
        const n = await this.#conn.read(buffer);
        if (this.destroyed) return;
        if (n === null) {
          this.push(null);
          return;
        }
        this.#readBytes = n === buffer.length
          ? Math.min(this.#readBytes * 2, MAX_READ_BYTES)
          : Math.max(this.#readBytes / 2, MIN_READ_BYTES);
        // A consumer that paused in its 'data' handler gets no further read until it resumes.
        if (!this.push(Buffer.from(buffer.buffer, 0, n)) || this.readableFlowing !== true) {
          this.#reading = false;
          return;
        }
      }
    } catch (err) {
      // A read cut short by destroy() is not the peer's error.
      if (!this.destroyed) this.destroy(err as Error);
    }
  }

  override _write(
    chunk: Uint8Array | string,
    encoding: BufferEncoding,
    done: (err?: Error | null) => void,
  ): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    this.#writeAll(bytes).then(() => done(), (err) => done(err));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  override _final(done: (err?: Error | null) => void): void {
    // The peer may be gone already; the write side is closed either way.
    this.#conn.closeWrite().then(() => done(), () => done());
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
    done(err);
  }
}

/**
 * Wraps an accepted connection as the `net.Socket` the protocols serve. With `allowHalfOpen`, the
 * write side stays open after the agent half-closes (the protocol ends it).
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const socket = agentSocket(await listener.accept(), false);
 * socket.end("bye");
 * ```
 */
export function agentSocket(conn: Deno.TcpConn, allowHalfOpen: boolean): net.Socket {
  return nativeSocket(conn, allowHalfOpen) ?? agentStreamSocket(conn, allowHalfOpen);
}

/**
 * The same connection through a JS stream (no read-ahead while paused): what {@linkcode
 * agentSocket} falls back to on a runtime without node's native TCP handle.
 */
export function agentStreamSocket(conn: Deno.TcpConn, allowHalfOpen: boolean): net.Socket {
  // The protocols are typed against net.Socket and use only what AgentSocket provides.
  return new AgentSocket(conn, allowHalfOpen) as unknown as net.Socket;
}

/** node's TCP handle class and its socket type, when this runtime exposes them. */
interface TcpBinding {
  TCP: new (type: number) => { openFromRid(rid: number): number };
  constants: { SOCKET: number };
}

let tcpBinding: TcpBinding | null | undefined;

function binding(): TcpBinding | null {
  if (tcpBinding !== undefined) return tcpBinding;
  try {
    // deno-lint-ignore no-explicit-any
    const found = (process as any).binding("tcp_wrap") as TcpBinding;
    const usable = typeof found?.TCP?.prototype?.openFromRid === "function" &&
      typeof found.constants?.SOCKET === "number";
    tcpBinding = usable ? found : null;
  } catch {
    tcpBinding = null;
  }
  return tcpBinding;
}

/**
 * The accepted connection as a `net.Socket` on node's native TCP handle, as node:net's own
 * server would have made it: node:tls then wraps it natively (~9 µs per round trip on this
 * runtime) instead of through a JS stream (~14–21 µs), which every intercepted HTTPS request
 * pays. The handle shares the connection's resource without owning it, so the connection is
 * closed when the socket is. `null` when the runtime lacks the handle (then the JS stream).
 */
function nativeSocket(conn: Deno.TcpConn, allowHalfOpen: boolean): net.Socket | null {
  const tcp = binding();
  const rid = ridOf(conn);
  if (!tcp || rid === undefined) return null;
  const handle = new tcp.TCP(tcp.constants.SOCKET);
  if (handle.openFromRid(rid) !== 0) return null;
  // node types `handle` as a file descriptor wrapper; node:net accepts its TCP handle there too.
  const options = { handle, allowHalfOpen } as unknown as net.SocketConstructorOpts;
  const socket = new NodeSocket(options);
  socket.once("close", () => {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  });
  return socket;
}

/** The resource id Deno keeps behind a symbol on every connection. */
function ridOf(conn: Deno.TcpConn): number | undefined {
  for (const key of Object.getOwnPropertySymbols(conn)) {
    if (key.description === "Deno.internal.rid") {
      const rid = (conn as unknown as Record<symbol, unknown>)[key];
      return typeof rid === "number" ? rid : undefined;
    }
  }
  return undefined;
}

/**
 * `socket` as `tls.TLSSocket` can safely wrap it: bytes already buffered in it (a ClientHello
 * pipelined behind a CONNECT head, put back with `unshift`) are replayed only once the TLS layer
 * has started. Deno's TLSSocket feeds buffered bytes in before it starts, and garbage among them
 * destroys the handle its `_start()` then dereferences: an uncaught TypeError that ends the
 * process. A socket with nothing buffered is returned as is.
 */
export function withoutBufferedBytes(socket: net.Socket): net.Socket {
  if (socket.readableLength === 0) return socket;
  return new Replay(socket) as unknown as net.Socket;
}

/** Replays `inner`'s buffered bytes, then relays it, no earlier than its consumer reads. */
class Replay extends Duplex {
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly #inner: net.Socket;
  readonly #early: Uint8Array[] = [];
  #replaying: ReturnType<typeof setTimeout> | undefined;

  constructor(inner: net.Socket) {
    super({ allowHalfOpen: inner.allowHalfOpen, decodeStrings: false, readableHighWaterMark: 0 });
    this.#inner = inner;
    this.localAddress = inner.localAddress;
    this.localPort = inner.localPort;
    this.remoteAddress = inner.remoteAddress;
    this.remotePort = inner.remotePort;
    // Paused first, so the 'data' listener below does not start the flow.
    inner.pause();
    for (let chunk; (chunk = inner.read()) !== null;) this.#early.push(chunk);
    inner.on("data", (chunk: Uint8Array) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on("end", () => this.push(null));
    inner.on("error", (err) => this.destroy(err));
    inner.on("close", () => this.destroy());
  }

  override _read(): void {
    if (this.#early.length === 0) return void this.#inner.resume();
    if (this.#replaying) return;
    // The TLS layer pulls while it starts: the replay waits for the next turn of the loop.
    this.#replaying = setTimeout(() => {
      this.#replaying = undefined;
      while (this.#early.length > 0) {
        if (!this.push(this.#early.shift())) return;
      }
      this.#inner.resume();
    }, 0);
  }

  override _write(
    chunk: Uint8Array | string,
    encoding: BufferEncoding,
    done: (err?: Error | null) => void,
  ): void {
    this.#inner.write(chunk, encoding, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#inner.end(() => done());
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    clearTimeout(this.#replaying);
    this.#inner.destroy();
    done(err);
  }
}
