/**
 * The admin API's HTTP server: opened on `gateway.admin_listen` with the admin token's hash and
 * the routes that authenticate their callers themselves, and kept alive through resource
 * exhaustion. `Deno.serve` ends for
 * good when its accept fails (EMFILE under a descriptor burst) and rejects `finished`, which
 * unhandled would take the whole gateway down: here that is caught, reported, and the server is
 * started again on the same address with backoff, so probes and approvals come back by
 * themselves.
 *
 * @module
 */

import type { Health } from "../core/mod.ts";
import { adminHandler, type AdminView, ensureAdminToken } from "../admin/mod.ts";
import {
  handleWebhookCallback,
  SLACK_INTERACTIVITY_PATH,
  WEBHOOK_CALLBACK_PATH,
} from "../approvals/mod.ts";
import type { Logger } from "./log.ts";
import { splitHostPort } from "./_listeners.ts";

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

/** Options for {@linkcode openAdminServer}. */
export interface OpenAdminServerOptions {
  stateDir: string;
  /** `gateway.admin_listen`: `host:port`. */
  listen: string;
  /** What the API serves; the admin token's hash and the signed routes are added here. */
  view: Omit<AdminView, "adminTokenHash" | "log" | "signedRoutes">;
  /** Slack's interactivity requests, signed with the Slack app's signing secret. */
  slackInteractivity: (req: Request) => Promise<Response>;
  log: Logger;
  /** Where the server reports while it restarts itself. */
  health: Health;
}

/**
 * Listens on `gateway.admin_listen`; throws naming that setting when it cannot. The admin token
 * is read (or, for a state dir from before admin tokens, created) once here; only its hash stays
 * in memory.
 */
export function openAdminServer(options: OpenAdminServerOptions): AdminServer {
  const { log, listen } = options;
  const adminTokenHash = ensureAdminToken(options.stateDir, {
    onCreated: (path) => log.log("info", `created admin token ${path} for 'clawpatrol approvals'`),
  }).hash;
  const [host, port] = splitHostPort(listen);
  try {
    return new AdminServer(
      host,
      port,
      adminHandler({
        ...options.view,
        adminTokenHash,
        log: (level, message, fields) => log.log(level, message, fields),
        signedRoutes: new Map([
          [WEBHOOK_CALLBACK_PATH, handleWebhookCallback],
          [SLACK_INTERACTIVITY_PATH, options.slackInteractivity],
        ]),
      }),
      { log, health: options.health },
    );
  } catch (err) {
    // The bare OS error ("Address already in use") does not say which setting to change.
    throw new Error(
      `Cannot listen on gateway.admin_listen '${listen}': ${(err as Error).message}`,
      { cause: err },
    );
  }
}
