/**
 * The admin API's HTTP server, kept alive through resource exhaustion. `Deno.serve` ends for
 * good when its accept fails (EMFILE under a descriptor burst) and rejects `finished`, which
 * unhandled would take the whole gateway down: here that is caught, reported, and the server is
 * started again on the same address with backoff, so probes and approvals come back by
 * themselves.
 *
 * @module
 */

import type { Health } from "../core/mod.ts";
import type { Logger } from "./log.ts";

const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 1000;
/** The component name `/healthz` reports while the admin server is being restarted. */
export const ADMIN_HEALTH = "accept:admin";

/** A `Deno.serve` server that restarts itself when its accept loop dies. */
export class AdminServer {
  readonly addr: Deno.NetAddr;
  readonly #handler: (req: Request) => Promise<Response>;
  readonly #log: Logger;
  readonly #health: Health;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #stopped = false;

  /** Listens on `hostname:port` (0: any); throws the OS error when it cannot. */
  constructor(
    hostname: string,
    port: number,
    handler: (req: Request) => Promise<Response>,
    hooks: { log: Logger; health: Health },
  ) {
    this.#handler = handler;
    this.#log = hooks.log;
    this.#health = hooks.health;
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
        this.#log.log("error", `admin API: ${err}`);
        return new Response("internal error\n", { status: 500 });
      },
    }, this.#handler);
    server.finished.catch((err) => this.#restart(err));
    return server;
  }

  async #restart(err: unknown): Promise<void> {
    if (this.#stopped) return;
    const cause = `admin API stopped accepting (${err}); restarting it`;
    this.#log.log("warn", cause);
    this.#health.set(ADMIN_HEALTH, "degraded", cause);
    for (let delay = FIRST_RETRY_MS; !this.#stopped; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.#stopped) return;
      try {
        this.#server = this.#serve(this.addr.hostname, this.addr.port);
        this.#health.clear(ADMIN_HEALTH);
        this.#log.log(
          "info",
          `admin API accepting again on ${this.addr.hostname}:${this.addr.port}`,
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
