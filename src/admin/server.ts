/**
 * The admin HTTP API on `gateway.admin_listen`: health, status and metrics (open, for probes and
 * scrapers), and the approval queue (admin token required). Plain `Request → Response`, testable
 * without sockets.
 *
 * @module
 */

import type { HealthReport } from "../core/mod.ts";
import type { Metrics } from "./metrics.ts";
import { adminTokenMatches } from "./token.ts";
import { type AdminApprovals, approvalJson, BodyError, readDecisionBody } from "./_approvals.ts";

export type { AdminApprovals } from "./_approvals.ts";

/** What the admin API reads from the running gateway. */
export interface AdminView {
  /** Version string. */
  version: string;
  /** The gateway's metrics registry, rendered on `GET /metrics`. */
  metrics: Metrics;
  /**
   * The gateway's problems right now; `/healthz` answers 503 while any is `unhealthy` (failing
   * closed) and 200 with the problems listed while only `degraded`. @default {always ok}
   */
  health?: () => HealthReport;
  /** Summary of the loaded config (rules, endpoints, last reload). */
  status(): Record<string, unknown>;
  /** Requests held for a human, decided through `/approvals/ID/approve|deny`. */
  approvals: AdminApprovals;
  /** SHA-256 of the admin token (`state_dir/admin.token`); the token itself is never held. */
  adminTokenHash: Uint8Array;
  /** Operator log: decisions made and refused credentials. */
  log?: (level: "info" | "warn", message: string, fields?: Record<string, unknown>) => void;
  /**
   * Routes that authenticate their callers themselves (a signature over the body), not with
   * the admin token: a webhook approver's callback, Slack's interactivity requests. By path.
   */
  signedRoutes?: ReadonlyMap<string, (req: Request) => Promise<Response>>;
  /** The operator dashboard (`/` and `/ui/…`): it signs its users in itself. */
  dashboard?: { owns(path: string): boolean; handle(req: Request): Promise<Response> };
}

/** Ids the queue hands out (`apr_` + 20 hex digits), with room to grow; anything else is unknown. */
const ID_PATTERN = /^apr_[A-Za-z0-9]{1,64}$/;

/**
 * Builds the admin request handler.
 *
 * @example
 * ```ts
 * import { adminHandler, ensureAdminToken, Metrics } from "./mod.ts";
 * import { ApprovalQueue } from "../approvals/mod.ts";
 *
 * const handler = adminHandler({
 *   version: "1.0.0",
 *   metrics: new Metrics(),
 *   status: () => ({}),
 *   approvals: new ApprovalQueue(),
 *   adminTokenHash: ensureAdminToken("./state").hash,
 * });
 * const res = await handler(new Request("http://127.0.0.1/metrics"));
 * ```
 */
export function adminHandler(view: AdminView): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    // Checked first: `/approvals/webhook` would otherwise meet the admin token check.
    const signed = view.signedRoutes?.get(path);
    if (signed) return await signed(req);
    if (view.dashboard?.owns(path)) return await view.dashboard.handle(req);
    if (path === "/approvals" || path.startsWith("/approvals/")) {
      return await approvals(view, req, path);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return json({ error: "method not allowed" }, 405);
    }
    switch (path) {
      case "/healthz": {
        const report = view.health?.() ?? { status: "ok", problems: [] };
        if (report.status === "ok") return json({ status: "ok", version: view.version }, 200);
        const code = report.status === "unhealthy" ? 503 : 200;
        return json(
          { status: report.status, version: view.version, problems: report.problems },
          code,
        );
      }
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

async function approvals(view: AdminView, req: Request, path: string): Promise<Response> {
  // Before anything else, so callers without the token learn nothing, not even which ids exist.
  const denied = checkToken(view, req, path);
  if (denied) {
    await req.body?.cancel();
    return denied;
  }
  const [id, action, ...extra] = path.slice("/approvals/".length).split("/");
  const read = req.method === "GET" || req.method === "HEAD";
  if (path === "/approvals") {
    if (!read) return notAllowed(req, "GET, HEAD");
    return json({ approvals: view.approvals.list().map((p) => approvalJson(p)) }, 200);
  }
  if (extra.length > 0 || (action !== undefined && action !== "approve" && action !== "deny")) {
    return json({ error: "not found" }, 404);
  }
  if (action === undefined) {
    if (!read) return notAllowed(req, "GET, HEAD");
    const pending = ID_PATTERN.test(id)
      ? view.approvals.list().find((p) => p.request.id === id)
      : undefined;
    return pending ? json(approvalJson(pending), 200) : unknown(id);
  }
  if (req.method !== "POST") return notAllowed(req, "POST");
  let body;
  try {
    body = await readDecisionBody(req);
  } catch (err) {
    if (err instanceof BodyError) return json({ error: err.message }, err.status);
    throw err;
  }
  if (!ID_PATTERN.test(id)) return unknown(id);
  const decision = action === "approve" ? "allow" : "deny";
  const who = `cli:${body.who}`;
  let result;
  try {
    result = await view.approvals.decide(id, decision, who, body.reason);
  } catch (err) {
    // A shared store that cannot take the decision: nothing was decided anywhere.
    view.log?.("warn", `approval ${id}: cannot record the decision: ${(err as Error).message}`);
    return json({ error: "the decision cannot be recorded right now: try again" }, 503);
  }
  switch (result) {
    case "decided":
    case "recorded":
      view.log?.(
        "info",
        `approval ${id}: ${decision} by ${who}${
          result === "recorded" ? " (quorum not reached)" : ""
        }`,
        { reason: body.reason || undefined },
      );
      return json({ result, id, decision, who }, 200);
    case "unknown":
      return unknown(id);
    case "refused":
      return json({
        error:
          `'${who}' may not decide request '${id}': already voted, or not allowed at this stage`,
        result,
      }, 409);
  }
}

/** A 401 when the request lacks the admin token, else undefined. Never echoes what was sent. */
function checkToken(view: AdminView, req: Request, path: string): Response | undefined {
  const header = req.headers.get("authorization");
  const presented = header === null ? undefined : /^Bearer +(\S+) *$/i.exec(header)?.[1];
  if (presented !== undefined && adminTokenMatches(view.adminTokenHash, presented)) return;
  view.log?.("warn", "admin API: refused a request without a valid admin token", {
    method: req.method,
    path,
  });
  return json(
    {
      error: header === null
        ? "unauthorized: send 'Authorization: Bearer <admin token>' (state_dir/admin.token on the gateway host)"
        : "unauthorized: the admin token is not valid",
    },
    401,
    { "www-authenticate": 'Bearer realm="clawpatrol-admin"' },
  );
}

function unknown(id: string): Response {
  const named = ID_PATTERN.test(id) ? `'${id}'` : "with that id";
  return json({
    error: `no request ${named} is waiting for approval (never held, already decided, or given up)`,
    result: "unknown",
  }, 404);
}

function notAllowed(req: Request, allow: string): Response {
  req.body?.cancel().catch(() => {});
  return json({ error: "method not allowed" }, 405, { allow });
}

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  // Facts may hold BigInts (CEL integers): written as strings rather than failing the response.
  const text = JSON.stringify(body, (_k, v) => typeof v === "bigint" ? v.toString() : v);
  return new Response(text, {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}
