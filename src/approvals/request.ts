/**
 * Approval requests: one per held action, bound to it by a fingerprint of what would run.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Action, ApprovalRequest, Facts } from "../core/mod.ts";

/**
 * The sha256 (hex) of the canonical action: protocol, endpoint, agent and what would run (the
 * HTTP method, target and body; the SQL statement and its parameters). Two requests with the
 * same fingerprint ask for exactly the same thing, so a cached or recorded decision for one can
 * stand for the other.
 *
 * @example
 * ```ts
 * fingerprint(action); // "3f5c…" (64 hex digits)
 * ```
 */
export function fingerprint(action: Action): string {
  const { http, sql } = action.facts;
  const what = {
    protocol: action.protocol,
    endpoint: action.endpoint,
    agent: action.agent.name,
    ...(http
      ? {
        method: http.method,
        host: http.host,
        port: String(http.port),
        path: http.path,
        query: http.query,
        body: http.body,
        body_truncated: http.body_truncated,
      }
      : {}),
    ...(sql ? { statement: sql.statement, params: sql.params, database: sql.database } : {}),
  };
  return createHash("sha256").update(canonicalJson(what)).digest("hex");
}

/** An approval request for `action`, held by rule `rule`. `facts` must already be redacted. */
export function approvalRequest(
  action: Action,
  rule: string,
  reason: string,
  facts: Facts,
): ApprovalRequest {
  return {
    id: `apr_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`,
    fingerprint: fingerprint(action),
    protocol: action.protocol,
    endpoint: action.endpoint ?? "",
    agent: action.agent,
    rule,
    reason,
    summary: action.summary,
    facts,
    createdAt: new Date(),
  };
}

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === "bigint") return v.toString();
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
    }
    return v;
  });
}
