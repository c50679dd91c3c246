/**
 * Pull-style reading of a node socket for the startup phase, where the session waits for one
 * packet at a time (and may swap the socket for TLS halfway). The relay after login is
 * event-driven instead.
 *
 * @module
 */

import type { Socket } from "node:net";

/** The agent went away or the startup deadline passed while the gateway waited for bytes. */
export class StartupAborted extends Error {
  constructor(readonly why: "closed" | "timeout" | "tls") {
    super(
      why === "closed"
        ? "client closed the connection"
        : why === "tls"
        ? "TLS handshake failed"
        : "startup timed out",
    );
    this.name = "StartupAborted";
  }
}

/** Reads chunks from a socket until detached. */
export class SocketReader {
  readonly socket: Socket;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #deadline: Promise<never>;
  readonly #onData = (data: Uint8Array) => {
    this.#chunks.push(data);
    // Startup packets are tiny: a client that keeps sending before being asked is either
    // pipelining its first query or flooding; stop reading until the session asks for more.
    this.socket.pause();
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };

  /** `deadline` rejects with StartupAborted("timeout") when the startup budget is spent. */
  constructor(socket: Socket, deadline: Promise<never>) {
    this.socket = socket;
    this.#deadline = deadline;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onEnd);
    socket.on("error", this.#onEnd);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next chunk; rejects with StartupAborted when the socket ends or the deadline passes. */
  async read(): Promise<Uint8Array> {
    while (this.#chunks.length === 0) {
      if (this.#ended) throw new StartupAborted("closed");
      this.socket.resume();
      await Promise.race([new Promise<void>((resolve) => this.#wake = resolve), this.#deadline]);
    }
    return this.#chunks.shift()!;
  }

  /** Stops reading: the socket is paused, listeners removed; returns bytes read but not used. */
  detach(): Uint8Array[] {
    this.socket.pause();
    this.socket.off("data", this.#onData);
    this.socket.off("end", this.#onEnd);
    this.socket.off("close", this.#onEnd);
    this.socket.off("error", this.#onEnd);
    const rest = this.#chunks;
    this.#chunks = [];
    return rest;
  }
}

/** A promise that rejects with StartupAborted("timeout") after `ms`, and its canceller. */
export function startupDeadline(ms: number): { deadline: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StartupAborted("timeout")), ms);
  });
  // Nobody may be awaiting it when it fires (between reads): never an unhandled rejection.
  deadline.catch(() => {});
  return { deadline, cancel: () => clearTimeout(timer) };
}
