/**
 * An HTTP server kept alive through resource exhaustion. `Deno.serve` ends for good when its
 * accept fails (EMFILE under a descriptor burst) and rejects `finished`, which unhandled would
 * take the whole gateway down: here that is caught, reported (log and `/healthz`), and the
 * server is started again on the same address with backoff.
 *
 * @module
 */

import type { Health, Logger } from "../core/mod.ts";

/** Where a {@linkcode RestartingHttpServer} reports, and under which names. */
export interface RestartingHttpServerHooks {
  log: Logger;
  health: Health;
  /** What the log calls it (`admin API`). */
  name: string;
  /** The `/healthz` component set while it restarts (`accept:admin`). */
  component: string;
}

const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 1000;
/** A `Deno.serve` server that restarts itself when its accept loop dies. */
export class RestartingHttpServer {
  readonly addr: Deno.NetAddr;
  readonly #handler: (req: Request) => Promise<Response>;
  readonly #log: Logger;
  readonly #health: Health;
  readonly #name: string;
  readonly #component: string;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #stopped = false;

  /** Listens on `hostname:port` (0: any); throws the OS error when it cannot. */
  constructor(
    hostname: string,
    port: number,
    handler: (req: Request) => Promise<Response>,
    hooks: RestartingHttpServerHooks,
  ) {
    this.#handler = handler;
    this.#log = hooks.log;
    this.#health = hooks.health;
    this.#name = hooks.name;
    this.#component = hooks.component;
    this.#server = this.#serve(hostname, port);
    this.addr = this.#server.addr;
  }

  #serve(hostname: string, port: number): Deno.HttpServer<Deno.NetAddr> {
    const server = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      // A handler that throws gets a bare 500: the error goes to the log, never to the caller.
      onError: (err) => {
        this.#log.log("error", `${this.#name}: ${err}`);
        return new Response("internal error\n", { status: 500 });
      },
    }, this.#handler);
    server.finished.catch((err) => this.#restart(err));
    return server;
  }

  async #restart(err: unknown): Promise<void> {
    if (this.#stopped) return;
    const cause = `${this.#name} stopped accepting (${err}); restarting it`;
    this.#log.log("warn", cause);
    this.#health.set(this.#component, "degraded", cause);
    for (let delay = FIRST_RETRY_MS; !this.#stopped; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.#stopped) return;
      try {
        this.#server = this.#serve(this.addr.hostname, this.addr.port);
        this.#health.clear(this.#component);
        this.#log.log(
          "info",
          `${this.#name} accepting again on ${this.addr.hostname}:${this.addr.port}`,
        );
        return;
      } catch {
        // Still out of descriptors, or the old socket not yet released: wait longer.
      }
    }
  }

  /** Stops serving (and restarting). */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    await this.#server.shutdown();
  }
}
