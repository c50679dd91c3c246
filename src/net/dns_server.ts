/**
 * A DNS server socket pair: UDP and TCP (RFC 1035 §4.2, RFC 7766) on one `host:port`, each query
 * handed to a responder function and its reply sent back. It knows nothing of what the answers
 * are (the gateway passes `transparent/dns.ts`'s responder); it owns only the sockets and their
 * limits: queries in flight, TCP connections, a TCP idle deadline, and a clean `close()`.
 *
 * UDP uses `node:dgram`, since `Deno.listenDatagram` still needs `--unstable-net`.
 *
 * @module
 */

import dgram from "node:dgram";
import { AcceptBackoff } from "./_accept_backoff.ts";

/** Where a query came from: the source address names the agent (DESIGN.md §9). */
export interface DnsPeer {
  transport: "udp" | "tcp";
  hostname: string;
  port: number;
}

/** Answers one query; null: send nothing. May throw (reported, nothing sent). */
export type DnsHandler = (
  query: Uint8Array,
  peer: DnsPeer,
) => Uint8Array | null | Promise<Uint8Array | null>;

/** Why a query or connection was turned away unserved (a metric label). */
export type DnsDropCause = "in_flight" | "tcp_connections";

/** Options for {@linkcode DnsServer.open}. */
export interface DnsServerOptions {
  respond: DnsHandler;
  /** Told about responder failures and socket errors; the server keeps serving. */
  onError(error: unknown): void;
  /** Told when a UDP query is dropped or a TCP connection refused over a limit. */
  onDropped?(cause: DnsDropCause): void;
  /**
   * Queries being answered at once, UDP and TCP together. A UDP query over it is dropped (the
   * client retries); a TCP connection waits for a slot. @default {256}
   */
  maxInFlight?: number;
  /** Open TCP connections; more are closed at accept. @default {64} */
  maxTcpConnections?: number;
  /**
   * How long a TCP connection may take to deliver its next whole query, or to take a reply,
   * before it is closed (RFC 7766 §6.2.3). A deadline per message, so trickling bytes does not
   * extend it. @default {10000}
   */
  tcpIdleTimeoutMs?: number;
}

/** Tries at binding TCP to the port the kernel gave UDP, when asked for port 0. */
const PORT_TRIES = 8;
/** The largest UDP payload (65535 − IP and UDP headers). */
const MAX_UDP_REPLY = 65_507;
const MAX_TCP_MESSAGE = 65_535;

/**
 * DNS over UDP and TCP on one port.
 *
 * @example
 * ```ts
 * const dns = await DnsServer.open("127.0.0.1", 0, {
 *   respond: (query) => respond(query, ctx).reply,
 *   onError: console.error,
 * });
 * dns.address.port; // the bound port, the same for UDP and TCP
 * await dns.close();
 * ```
 */
export class DnsServer {
  readonly #udp: dgram.Socket;
  readonly #tcp: Deno.TcpListener;
  readonly #options: DnsServerOptions;
  readonly #slots: Slots;
  readonly #idleMs: number;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #work = new Set<Promise<void>>();
  readonly #backoff = new AcceptBackoff();
  #accepting: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  private constructor(udp: dgram.Socket, tcp: Deno.TcpListener, options: DnsServerOptions) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#options = options;
    this.#slots = new Slots(options.maxInFlight ?? 256);
    this.#idleMs = options.tcpIdleTimeoutMs ?? 10_000;
  }

  /**
   * Listens on `host:port` over UDP and TCP (port 0: a free port, the same for both). Rejects
   * with the OS error when it cannot.
   */
  static async open(host: string, port: number, options: DnsServerOptions): Promise<DnsServer> {
    for (let attempt = 1;; attempt++) {
      const udp = await bindUdp(host, port);
      const bound = udp.address().port;
      let tcp: Deno.TcpListener;
      try {
        tcp = Deno.listen({ hostname: host, port: bound, transport: "tcp" });
      } catch (err) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        // With port 0 the kernel picked a UDP port whose TCP twin is taken: pick again.
        if (port === 0 && err instanceof Deno.errors.AddrInUse && attempt < PORT_TRIES) continue;
        throw err;
      }
      const server = new DnsServer(udp, tcp, options);
      udp.on("error", (err) => options.onError(err));
      udp.on("message", (msg, rinfo) => server.#udpQuery(msg, rinfo));
      server.#accepting = server.#acceptLoop();
      return server;
    }
  }

  /** The bound address; UDP and TCP share the port. */
  get address(): { hostname: string; port: number } {
    const { hostname, port } = this.#tcp.addr;
    return { hostname, port };
  }

  /** Stops both sockets, closes every TCP connection and waits for the queries being answered. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        this.#tcp.close();
      } catch {
        // Closed already.
      }
      this.#wake?.();
      await this.#accepting;
      for (const conn of this.#conns) closeQuietly(conn);
      // Work cannot grow now: UDP messages and accepts are ignored once closing.
      await Promise.allSettled([...this.#work]);
      await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    })();
    return this.#closing;
  }

  #track(work: Promise<void>): void {
    const settled = work.catch((err) => this.#options.onError(err));
    this.#work.add(settled);
    settled.finally(() => this.#work.delete(settled));
  }

  #udpQuery(msg: Uint8Array, rinfo: dgram.RemoteInfo): void {
    if (this.#closing) return;
    // Over the limit a datagram is dropped rather than queued: UDP clients retry, and a queue
    // would let a flood hold memory.
    if (!this.#slots.tryAcquire()) {
      this.#options.onDropped?.("in_flight");
      return;
    }
    const peer: DnsPeer = { transport: "udp", hostname: rinfo.address, port: rinfo.port };
    this.#track((async () => {
      let reply: Uint8Array | null;
      try {
        reply = await this.#answer(msg, peer);
      } finally {
        this.#slots.release();
      }
      if (!reply || this.#closing) return;
      if (reply.length > MAX_UDP_REPLY) throw new RangeError("DNS reply too large for UDP");
      await new Promise<void>((resolve, reject) =>
        this.#udp.send(reply, rinfo.port, rinfo.address, (err) => err ? reject(err) : resolve())
      );
    })());
  }

  /** The responder's reply; a responder that throws is reported and answers nothing. */
  async #answer(query: Uint8Array, peer: DnsPeer): Promise<Uint8Array | null> {
    try {
      return await this.#options.respond(query, peer);
    } catch (err) {
      this.#options.onError(err);
      return null;
    }
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#tcp.accept();
      } catch (err) {
        if (this.#closing) return;
        this.#options.onError(err);
        // Out of descriptors, accept fails at once until some free up: wait rather than spin.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#backoff.failed(Date.now()).delayMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
        continue;
      }
      this.#backoff.accepted(Date.now());
      if (this.#closing) return closeQuietly(conn);
      if (this.#conns.size >= (this.#options.maxTcpConnections ?? 64)) {
        this.#options.onDropped?.("tcp_connections");
        closeQuietly(conn);
        continue;
      }
      this.#conns.add(conn);
      this.#track(
        this.#serveTcp(conn).finally(() => {
          this.#conns.delete(conn);
          closeQuietly(conn);
        }),
      );
    }
  }

  /** Queries on one connection, answered in order (RFC 7766 §6.2.1.1 allows it). */
  async #serveTcp(conn: Deno.TcpConn): Promise<void> {
    const addr = conn.remoteAddr;
    const peer: DnsPeer = { transport: "tcp", hostname: addr.hostname, port: addr.port };
    const frames = new FrameReader(conn);
    try {
      for (;;) {
        const query = await this.#deadline(conn, frames.next());
        if (query === null) return;
        await this.#slots.acquire();
        let reply: Uint8Array | null;
        try {
          if (this.#closing) return;
          reply = await this.#answer(query, peer);
        } finally {
          this.#slots.release();
        }
        if (this.#closing) return;
        if (!reply) continue;
        if (reply.length > MAX_TCP_MESSAGE) throw new RangeError("DNS reply over 65535 bytes");
        const framed = new Uint8Array(2 + reply.length);
        new DataView(framed.buffer).setUint16(0, reply.length);
        framed.set(reply, 2);
        await this.#deadline(conn, writeAll(conn, framed));
      }
    } catch (err) {
      // A peer that vanished, sent half a message or hit the deadline is simply gone.
      if (!this.#closing && !isDisconnect(err)) throw err;
    }
  }

  /** `work`, or the connection closed (and `work` rejected) after the idle timeout. */
  async #deadline<T>(conn: Deno.TcpConn, work: Promise<T>): Promise<T> {
    const timer = setTimeout(() => closeQuietly(conn), this.#idleMs);
    try {
      return await work;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Reads 2-byte-length-prefixed messages off a connection. */
class FrameReader {
  readonly #conn: Deno.Conn;
  #buffered = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next message; null at a clean end between messages. Rejects on a cut-short one. */
  async next(): Promise<Uint8Array | null> {
    if (!(await this.#fill(2))) return null;
    const length = (this.#buffered[0] << 8) | this.#buffered[1];
    await this.#fill(2 + length);
    const message = this.#buffered.slice(2, 2 + length);
    this.#buffered = this.#buffered.subarray(2 + length);
    return message;
  }

  /** Reads until `n` bytes are buffered (at most 65537: the caller's bound); false at EOF. */
  async #fill(n: number): Promise<boolean> {
    while (this.#buffered.length < n) {
      const chunk = new Uint8Array(16_384);
      const read = await this.#conn.read(chunk);
      if (read === null) {
        // Nothing buffered: the peer ended between messages, which is a clean close.
        if (this.#buffered.length === 0) return false;
        throw new Deno.errors.UnexpectedEof("DNS message cut short");
      }
      const joined = new Uint8Array(this.#buffered.length + read);
      joined.set(this.#buffered);
      joined.set(chunk.subarray(0, read), this.#buffered.length);
      this.#buffered = joined;
    }
    return true;
  }
}

/** A counting semaphore over queries in flight. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  tryAcquire(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  const udp = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  return new Promise((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, host, () => {
      udp.off("error", reject);
      resolve(udp);
    });
  });
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

function isDisconnect(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.UnexpectedEof || err instanceof Deno.errors.NotConnected;
}
