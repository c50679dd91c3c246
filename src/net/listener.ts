/**
 * The TCP side every protocol listener shares: listen, accept, admit (connection caps and the
 * handshake deadline), count connections, and on close cut every connection and wait for the
 * work serving them, so each open action still gets its receipt before the gateway stops.
 *
 * Accepting survives resource exhaustion: a failed accept (EMFILE, ENFILE, ENOMEM, …) is retried
 * with a doubling backoff, reported once per burst, and the listener keeps its port.
 *
 * @module
 */

import type net from "node:net";
import { AcceptBackoff, acceptFailureCause } from "./_accept_backoff.ts";
import { agentSocket } from "./_agent_socket.ts";
import { AdmissionGate } from "./admission.ts";
import type { AcceptBurst, ListenerHooks, NetListener, ServeOptions } from "../core/mod.ts";

export { acceptFailureText } from "./_accept_backoff.ts";

/** What accepting needs of a listening socket (`Deno.listen`'s, or a test's fake). */
export type AcceptSource = Pick<Deno.TcpListener, "accept" | "close" | "addr">;

/** Options for {@linkcode TcpListener.open}. */
export interface TcpListenerOptions extends ServeOptions {
  /** Opens the listening socket. @default {Deno.listen} */
  listen?(options: { hostname: string; port: number }): AcceptSource;
}

// After a failed accept, an accept still pending this long means the OS had a descriptor to spare
// (it takes one before it looks at the queue) and nothing was waiting: accepting works again.
const IDLE_PROBE_MS = 100;

/** A listening TCP server with its connections and their work tracked. */
export class TcpListener implements NetListener {
  readonly #listener: AcceptSource;
  readonly #options: TcpListenerOptions;
  readonly #gate: AdmissionGate;
  readonly #backoff = new AcceptBackoff();
  readonly #sockets = new Set<net.Socket>();
  readonly #work = new Set<Promise<unknown>>();
  #accepting: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  private constructor(listener: AcceptSource, options: TcpListenerOptions) {
    this.#listener = listener;
    this.#options = options;
    const hooks = options.hooks;
    this.#gate = new AdmissionGate(
      hooks && {
        limits: () => hooks.limits(),
        refused: (cause) => hooks.refused(cause),
        refusal: options.refusal,
      },
    );
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
    try {
      const listen = options.listen ?? ((o) => Deno.listen({ ...o, transport: "tcp" }));
      const tcp = new TcpListener(listen({ hostname: host, port }), options);
      tcp.#accepting = tcp.#acceptLoop();
      return Promise.resolve(tcp);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The bound address. */
  get address(): { hostname: string; port: number } {
    const { hostname, port } = this.#listener.addr;
    return { hostname, port };
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
      try {
        this.#listener.close();
      } catch {
        // Closed already.
      }
      this.#wake?.();
      await this.#accepting;
      // A stopped listener leaves no accept problem behind on /healthz.
      this.#recovered(this.#backoff.idle(Date.now()), true);
      for (const socket of this.#sockets) socket.destroy();
      await Promise.allSettled([...this.#work]);
    })();
    return this.#closing;
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#nextConnection();
      } catch (err) {
        if (this.#closing) return;
        await this.#acceptFailed(err);
        continue;
      }
      if (this.#closing) {
        conn.close();
        return;
      }
      this.#recovered(this.#backoff.accepted(Date.now()));
      try {
        this.#accept(conn);
      } catch (err) {
        // One connection's failure is never the end of the accept loop.
        try {
          conn.close();
        } catch {
          // Closed already.
        }
        this.#options.onError(err);
      }
    }
  }

  /** The next connection; after failures, also notices when accepting works again while idle. */
  async #nextConnection(): Promise<Deno.TcpConn> {
    const next = this.#listener.accept();
    if (!this.#backoff.failing) return await next;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<"idle">((resolve) => {
      timer = setTimeout(() => resolve("idle"), IDLE_PROBE_MS);
    });
    try {
      const first = await Promise.race([next, idle]);
      if (first !== "idle") return first;
    } finally {
      clearTimeout(timer);
    }
    this.#recovered(this.#backoff.idle(Date.now()));
    return await next;
  }

  async #acceptFailed(err: unknown): Promise<void> {
    const cause = acceptFailureCause(err);
    const { delayMs, startsBurst } = this.#backoff.failed(Date.now());
    this.#report((hooks) => hooks.acceptFailed(cause));
    if (startsBurst) this.#report((hooks) => hooks.acceptStalled(cause));
    // Retrying at once would spin: the failing accept fails again until descriptors free up.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  #recovered(burst: AcceptBurst | null, closing = false): void {
    if (burst) this.#report((hooks) => hooks.acceptRecovered(burst, closing));
  }

  /** Calls a hook: one that throws is reported, and the accept loop goes on. */
  #report(call: (hooks: ListenerHooks) => void): void {
    const hooks = this.#options.hooks;
    if (!hooks) return;
    try {
      call(hooks);
    } catch (err) {
      this.#options.onError(err);
    }
  }

  #accept(conn: Deno.TcpConn): void {
    try {
      conn.setNoDelay(true);
    } catch {
      // Reset before it was accepted: reading it will say so.
    }
    const socket = agentSocket(conn, this.#options.allowHalfOpen ?? false);
    this.#sockets.add(socket);
    this.#options.connections?.(1);
    // Whoever reads the socket reports its failures; without a listener an error would throw.
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#sockets.delete(socket);
      this.#options.connections?.(-1);
    });
    const admission = this.#gate.admit(socket);
    if (!admission) return;
    this.track(
      this.#options.serve(socket, admission).catch((err) => {
        socket.destroy();
        throw err;
      }),
    );
  }
}
