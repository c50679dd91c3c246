/**
 * The TCP side every protocol listener shares: listen, accept, count connections, and on close
 * cut every connection and wait for the work serving them, so each open action still gets its
 * receipt before the gateway stops.
 *
 * @module
 */

import net from "node:net";

/** Options for {@linkcode TcpListener.open}. */
export interface TcpListenerOptions {
  /** Serves one accepted connection; should not throw (a rejection is reported to `onError`). */
  serve(socket: net.Socket): Promise<void>;
  /** Told about listener errors after start, and about `serve` rejections. */
  onError(error: unknown): void;
  /** Called with +1/-1 as connections open and close. */
  connections?(delta: number): void;
  /**
   * Keep the socket writable after the client half-closes (an HTTP client that shuts down its
   * side after the request still gets the response). @default {false}
   */
  allowHalfOpen?: boolean;
}

/** A listening TCP server with its connections and their work tracked. */
export class TcpListener {
  readonly #server: net.Server;
  readonly #options: TcpListenerOptions;
  readonly #sockets = new Set<net.Socket>();
  readonly #work = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  private constructor(server: net.Server, options: TcpListenerOptions) {
    this.#server = server;
    this.#options = options;
  }

  /**
   * Listens on `host:port` (port 0: any free port). Rejects with the OS error when it cannot.
   *
   * @example
   * ```ts
   * const tcp = await TcpListener.open("127.0.0.1", 0, { serve, onError: console.error });
   * await tcp.close();
   * ```
   */
  static open(host: string, port: number, options: TcpListenerOptions): Promise<TcpListener> {
    const server = net.createServer({ noDelay: true, allowHalfOpen: options.allowHalfOpen });
    const listener = new TcpListener(server, options);
    server.on("connection", (socket) => listener.#accept(socket));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        server.on("error", (err) => options.onError(err));
        resolve(listener);
      });
    });
  }

  /** The bound address. */
  get address(): { hostname: string; port: number } {
    const a = this.#server.address() as net.AddressInfo;
    return { hostname: a.address, port: a.port };
  }

  /** Whether {@linkcode TcpListener.close} was called. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** Keeps `close()` waiting for `work` (side work a connection started, e.g. a cancel). */
  track(work: Promise<unknown>): void {
    const settled = work.catch((err) => this.#options.onError(err));
    this.#work.add(settled);
    settled.finally(() => this.#work.delete(settled));
  }

  /** Stops accepting, destroys every connection and waits for the work serving them. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const socket of this.#sockets) socket.destroy();
      await Promise.allSettled([...this.#work]);
      await closed;
    })();
    return this.#closing;
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) return void socket.destroy();
    this.#sockets.add(socket);
    this.#options.connections?.(1);
    socket.setNoDelay(true);
    // Whoever reads the socket reports its failures; without a listener an error would throw.
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#sockets.delete(socket);
      this.#options.connections?.(-1);
    });
    this.track(
      this.#options.serve(socket).catch((err) => {
        socket.destroy();
        throw err;
      }),
    );
  }
}
