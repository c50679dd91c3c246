/**
 * The admin HTTP API on `gateway.admin_listen`: health and metrics for now; approvals and the
 * dashboard arrive with later issues. Plain `Request → Response`, testable without sockets.
 *
 * @module
 */

/** What the admin API reads from the running gateway. */
export interface AdminView {
  /** Version string. */
  version: string;
  /** Counters and gauges, rendered in Prometheus text format. */
  metrics(): Record<string, number>;
  /** Summary of the loaded config (rules, endpoints, last reload). */
  status(): Record<string, unknown>;
}

/** Builds the admin request handler. */
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
      case "/metrics": {
        const lines: string[] = [];
        for (const [name, value] of Object.entries(view.metrics())) {
          lines.push(`# TYPE ${name} ${name.endsWith("_total") ? "counter" : "gauge"}`);
          lines.push(`${name} ${value}`);
        }
        return new Response(lines.join("\n") + "\n", {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
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
