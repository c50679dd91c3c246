/**
 * The admin HTTP API on `gateway.admin_listen`: health and metrics for now; approvals and the
 * dashboard arrive with later issues. Plain `Request → Response`, testable without sockets.
 *
 * @module
 */

import type { Metrics } from "./metrics.ts";

/** What the admin API reads from the running gateway. */
export interface AdminView {
  /** Version string. */
  version: string;
  /** The gateway's metrics registry, rendered on `GET /metrics`. */
  metrics: Metrics;
  /** Summary of the loaded config (rules, endpoints, last reload). */
  status(): Record<string, unknown>;
}

/**
 * Builds the admin request handler.
 *
 * @example
 * ```ts
 * import { adminHandler, Metrics } from "./mod.ts";
 *
 * const handler = adminHandler({ version: "1.0.0", metrics: new Metrics(), status: () => ({}) });
 * const res = handler(new Request("http://127.0.0.1/metrics"));
 * ```
 */
export function adminHandler(view: AdminView): (req: Request) => Response {
  return (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return json({ error: "method not allowed" }, 405);
    }
    switch (url.pathname) {
      case "/healthz":
        return json({ status: "ok", version: view.version }, 200);
      case "/status":
        return json(view.status(), 200);
      case "/metrics":
        return new Response(view.metrics.render(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      default:
        return json({ error: "not found" }, 404);
    }
  };
}

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}
