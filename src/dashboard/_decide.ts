/**
 * Deciding a held request from the dashboard, as `dashboard:<operator>`: the one place both the
 * approvals form and the JSON API go through. With a shared store the decision is taken there,
 * as the admin API's is, so a request held on another gateway is decided too, and of a dashboard
 * click and a CLI decision racing elsewhere exactly one wins.
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
  | "invalid"
  /** Someone else decided it first (the shared store says who; the log names them). */
  | "already"
  /** The shared store cannot take the decision now: nothing was decided anywhere. */
  | "unavailable";

/** Decides request `id` for the signed-in operator; the reason reaches the agent and receipt. */
export async function decideHeld(
  options: DashboardOptions,
  session: Session,
  id: string,
  action: "approve" | "deny",
  rawReason: string,
): Promise<DashboardDecision> {
  const reason = rawReason.trim();
  if (reason.length > MAX_REASON_CHARS || CONTROL.test(reason)) return "invalid";
  if (!APPROVAL_ID.test(id)) return "unknown";
  const decision = action === "approve" ? "allow" : "deny";
  const who = `dashboard:${session.name}`;
  let result;
  try {
    result = await options.approvals.decide(id, decision, who, reason);
  } catch (err) {
    options.log?.("warn", `approval ${id}: cannot record the decision by ${who}`, {
      error: err instanceof Error ? err.message : String(err),
    });
    return "unavailable";
  }
  if (result === "unknown" && options.approvals.decidedBy) {
    const winner = await options.approvals.decidedBy(id).catch(() => null);
    // Abandoned or given up is no one's decision: "no longer waiting" says that.
    if (winner !== null && / by /.test(winner)) {
      options.log?.("info", `approval ${id}: ${who} was too late, it was already ${winner}`);
      return "already";
    }
  }
  if (result === "decided" || result === "recorded") {
    options.log?.("info", `approval ${id}: ${decision} by ${who}`, {
      reason: reason || undefined,
    });
  }
  if (result === "decided") return action === "approve" ? "approved" : "denied";
  return result;
}
