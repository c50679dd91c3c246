/**
 * Pull-style byte streams over node sockets (the agent side) and Deno connections (the upstream
 * side), so one exchange loop can read and write both with backpressure.
 *
 * @module
 */

import type { Socket } from "node:net";
import { concatBytes, shortLivedBytes } from "../../core/mod.ts";

/** Reads a byte stream chunk by chunk; `null` at end of stream. */
export interface ByteReader {
  read(): Promise<Uint8Array | null>;
  /** Puts bytes back in front of the stream (bytes read past the end of one message). */
  unread(bytes: Uint8Array): void;
}

/** Writes a byte stream; `write` resolves once the bytes are handed to the OS (backpressure). */
export interface ByteWriter {
  write(bytes: Uint8Array): Promise<void>;
  /** Half-closes: no more writes, reads continue. */
  closeWrite(): void;
  /** Closes both directions at once. */
  destroy(): void;
}

/** A stream closed while an operation waited on it. */
export class StreamClosed extends Error {
  constructor(message = "connection closed") {
    super(message);
    this.name = "StreamClosed";
  }
}

const NOTHING = () => {};

// Past this many unread bytes the socket is paused, so a fast sender cannot fill memory.
const HIGH_WATER = 256 * 1024;

/** A node socket (plain or TLS) as a ByteReader/ByteWriter. */
export class SocketStream implements ByteReader, ByteWriter {
  readonly socket: Socket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #timedOut = false;
  #gone: AbortController | undefined;
  /** Called once the connection is lost both ways; see {@linkcode onLost}. */
  #lostWatchers = new Set<() => void>();
  readonly #onData = (data: Uint8Array) => {
    this.#chunks.push(data);
    this.#queued += data.length;
    if (this.#queued > HIGH_WATER) this.socket.pause();
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#notify();
    this.#gone?.abort(new StreamClosed("agent closed the connection"));
  };
  readonly #onError = (err: Error) => {
    this.#error ??= err;
    this.#ended = true;
    this.#lostNow();
    this.#notify();
    this.#gone?.abort(new StreamClosed("agent connection failed"));
  };
  readonly #onClose = () => {
    this.#closed = true;
    this.#ended = true;
    this.#lostNow();
    this.#notify();
    this.#gone?.abort(new StreamClosed("agent closed the connection"));
  };

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  /**
   * Aborted once the agent stops sending or the connection ends: what a request held for
   * approval listens to, so an agent that gave up cancels its approval.
   */
  goneSignal(): AbortSignal {
    if (!this.#gone) {
      this.#gone = new AbortController();
      if (this.#ended || this.closed) this.#gone.abort(new StreamClosed("agent went away"));
    }
    return this.#gone.signal;
  }

  /**
   * Calls `watcher` once the connection is gone both ways (destroyed, reset, failed), never on
   * a half-close: an agent that shut its side after the request still gets its response. Called
   * at once when it is already gone. Returns the unsubscribe, which each exchange calls: a
   * callback, not a promise, because a reaction added to a promise that never settles (a
   * kept-alive connection's) stays until the connection ends, one per request.
   */
  onLost(watcher: () => void): () => void {
    if (this.closed || this.#error !== undefined) {
      watcher();
      return NOTHING;
    }
    this.#lostWatchers.add(watcher);
    return () => this.#lostWatchers.delete(watcher);
  }

  /** Watchers registered with {@linkcode onLost} and not yet removed (for tests). */
  get lostWatchers(): number {
    return this.#lostWatchers.size;
  }

  #lostNow(): void {
    const watchers = [...this.#lostWatchers];
    this.#lostWatchers.clear();
    for (const watcher of watchers) watcher();
  }

  /** Whether the socket closed (both directions). */
  get closed(): boolean {
    return this.#closed || this.socket.destroyed;
  }

  /** Wakes a pending `read()` with `null` without ending the stream (a caller's timeout). */
  wakeWithTimeout(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake) {
      this.#timedOut = true;
      wake();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
      if (this.#timedOut) {
        this.#timedOut = false;
        return null;
      }
    }
    const chunk = this.#chunks.shift()!;
    this.#queued -= chunk.length;
    if (this.#queued <= HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return chunk;
  }

  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.unshift(bytes);
    this.#queued += bytes.length;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) {
      return Promise.reject(new StreamClosed());
    }
    if (this.socket.write(bytes)) return Promise.resolve();
    return this.#drained();
  }

  /**
   * Writes `parts` in order as {@linkcode write} writes one array. Corked, the socket hands them
   * to TLS together, one record and one system call, without their first being copied into one
   * array: a 5 KB response's head and body cost 1.2 µs less so than joined (stop 45).
   */
  writeParts(parts: readonly Uint8Array[]): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) {
      return Promise.reject(new StreamClosed());
    }
    if (parts.length === 1) {
      return this.socket.write(parts[0]) ? Promise.resolve() : this.#drained();
    }
    this.socket.cork();
    let below = true;
    for (const part of parts) below = this.socket.write(part);
    this.socket.uncork();
    return below ? Promise.resolve() : this.#drained();
  }

  /** Resolves once the socket drains, rejects when it closes first. */
  #drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        if (this.socket.destroyed) reject(new StreamClosed());
        else resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  closeWrite(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Stops reading and gives the socket back, with the bytes read but not consumed, so another
   * layer (TLS) can take over the connection.
   */
  detach(): { socket: Socket; pending: Uint8Array[] } {
    this.socket.off("data", this.#onData);
    this.socket.off("end", this.#onEnd);
    this.socket.off("close", this.#onClose);
    // Keep an error listener: an unhandled 'error' event would crash the process.
    this.socket.off("error", this.#onError);
    this.socket.on("error", () => {});
    this.socket.pause();
    const pending = this.#chunks;
    this.#chunks = [];
    this.#queued = 0;
    return { socket: this.socket, pending };
  }
}

const READ_SIZE = 64 * 1024;

/** A Deno connection (TCP or TLS) as a ByteReader/ByteWriter. */
export class ConnStream implements ByteReader, ByteWriter {
  readonly conn: Deno.Conn | Deno.TlsConn;
  #pending: Uint8Array[] = [];
  /** Read into once per connection; what was read is copied out (allocating 64 KiB per read costs more). */
  #buffer: Uint8Array | undefined;
  #closed = false;

  constructor(conn: Deno.Conn | Deno.TlsConn) {
    this.conn = conn;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether bytes put back with `unread` wait: the next `read()` returns without waiting. */
  get buffered(): boolean {
    return this.#pending.length > 0;
  }

  /**
   * The bytes put back with `unread`, taken, when there are exactly `length` of them (a whole
   * body that came with its head); otherwise `null`, and nothing is taken.
   */
  takeExactly(length: number): Uint8Array | null {
    const pending = this.#pending;
    let total = 0;
    for (const chunk of pending) total += chunk.length;
    if (total !== length) return null;
    this.#pending = [];
    return pending.length === 1 ? pending[0] : concatBytes(pending);
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#pending.length > 0) return this.#pending.shift()!;
    if (this.#closed) return null;
    const buf = this.#buffer ??= new Uint8Array(READ_SIZE);
    let n: number | null;
    try {
      n = await this.conn.read(buf);
    } catch (err) {
      if (this.#closed) return null;
      throw err;
    }
    if (n === null) return null;
    // The read buffer is reused: the bytes are copied out, into a slab when they are few.
    const out = shortLivedBytes(n);
    out.set(buf.subarray(0, n));
    return out;
  }

  unread(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#pending.unshift(bytes);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw new StreamClosed();
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  closeWrite(): void {
    this.conn.closeWrite().catch(() => {});
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer.
    }
  }
}

/**
 * Copies one stream into another until it ends, then half-closes the destination. Returns the
 * bytes copied. Used for passthrough tunnels and upgraded (WebSocket) connections.
 */
export async function pump(from: ByteReader, to: ByteWriter): Promise<number> {
  let bytes = 0;
  try {
    for (;;) {
      const chunk = await from.read();
      if (chunk === null) break;
      bytes += chunk.length;
      await to.write(chunk);
    }
  } catch {
    // Either side failing ends the relay; the caller closes both.
  }
  to.closeWrite();
  return bytes;
}
