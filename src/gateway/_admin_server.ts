/**
 * The admin API's HTTP server: opened on `gateway.admin_listen` with the admin token's hash and
 * the routes that authenticate their callers themselves, on `net/`'s self-restarting server, so
 * probes and approvals come back by themselves after resource exhaustion.
 *
 * @module
 */

import { type Health, splitHostPort } from "../core/mod.ts";
import { RestartingHttpServer } from "../net/mod.ts";
import { adminHandler, adminTokenMatches, type AdminView, ensureAdminToken } from "../admin/mod.ts";
import { Dashboard, type DashboardOptions } from "../dashboard/mod.ts";
import {
  handleWebhookCallback,
  SLACK_INTERACTIVITY_PATH,
  WEBHOOK_CALLBACK_PATH,
} from "../approvals/mod.ts";
import type { Logger } from "./log.ts";

/** The component name `/healthz` reports while the admin server is being restarted. */
export const ADMIN_HEALTH = "accept:admin";

/** Options for {@linkcode openAdminServer}. */
export interface OpenAdminServerOptions {
  stateDir: string;
  /** `gateway.admin_listen`: `host:port`. */
  listen: string;
  /** What the API serves; the admin token's hash and the signed routes are added here. */
  view: Omit<AdminView, "adminTokenHash" | "log" | "signedRoutes">;
  /** What the dashboard reads; it signs operators in with the admin token or a one-time code. */
  dashboard?: Omit<DashboardOptions, "tokenMatches" | "log">;
  /** Slack's interactivity requests, signed with the Slack app's signing secret. */
  slackInteractivity: (req: Request) => Promise<Response>;
  log: Logger;
  /** Where the server reports while it restarts itself. */
  health: Health;
}

/** The admin listener as the gateway holds it. */
export interface AdminServer {
  readonly addr: Deno.NetAddr;
  /** Ends the dashboard's live streams (a server waits for open responses), then stops. */
  shutdown(): Promise<void>;
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
  const logTo: AdminView["log"] = (level, message, fields) => log.log(level, message, fields);
  const dashboard = options.dashboard && new Dashboard({
    ...options.dashboard,
    tokenMatches: (presented) => adminTokenMatches(adminTokenHash, presented),
    log: logTo,
  });
  let server: RestartingHttpServer;
  try {
    server = new RestartingHttpServer(
      host,
      port,
      adminHandler({
        ...options.view,
        adminTokenHash,
        log: logTo,
        dashboard: dashboard && { owns: Dashboard.owns, handle: dashboard.handle },
        signedRoutes: new Map([
          [WEBHOOK_CALLBACK_PATH, handleWebhookCallback],
          [SLACK_INTERACTIVITY_PATH, options.slackInteractivity],
        ]),
      }),
      { log, health: options.health, name: "admin API", component: ADMIN_HEALTH },
    );
  } catch (err) {
    dashboard?.close();
    // The bare OS error ("Address already in use") does not say which setting to change.
    throw new AdminListenError(
      `Cannot listen on gateway.admin_listen '${listen}': ${(err as Error).message}`,
      { cause: err },
    );
  }
  return {
    addr: server.addr,
    shutdown: () => {
      dashboard?.close();
      return server.shutdown();
    },
  };
}

/** The admin listener could not open; `cause` is the OS error, for advice on what to change. */
export class AdminListenError extends Error {}
