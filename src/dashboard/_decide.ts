/**
 * Deciding a held request from the dashboard, as `dashboard:<operator>`: the one place both the
 * approvals form and the JSON API go through.
 *
 * @module
 */

import type { DashboardOptions } from "./dashboard.ts";
import type { Session } from "./_sessions.ts";

/** Ids the approval queue hands out; anything else is unknown without a lookup. */
export const APPROVAL_ID = /^apr_[A-Za-z0-9]{1,64}$/;
const MAX_REASON_CHARS = 1000;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** What a dashboard decision came to (the approvals page's result keys). */
export type DashboardDecision =
  | "approved"
  | "denied"
  | "recorded"
  | "unknown"
  | "refused"
  | "invalid";

/** Decides request `id` for the signed-in operator; the reason reaches the agent and receipt. */
export function decideHeld(
  options: DashboardOptions,
  session: Session,
  id: string,
  action: "approve" | "deny",
  rawReason: string,
): DashboardDecision {
  const reason = rawReason.trim();
  if (reason.length > MAX_REASON_CHARS || CONTROL.test(reason)) return "invalid";
  if (!APPROVAL_ID.test(id)) return "unknown";
  const decision = action === "approve" ? "allow" : "deny";
  const who = `dashboard:${session.name}`;
  const result = options.approvals.decide(id, decision, who, reason);
  if (result === "decided" || result === "recorded") {
    options.log?.("info", `approval ${id}: ${decision} by ${who}`, {
      reason: reason || undefined,
    });
  }
  if (result === "decided") return action === "approve" ? "approved" : "denied";
  return result;
}
