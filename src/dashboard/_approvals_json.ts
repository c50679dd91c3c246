/**
 * A held request as the dashboard's API shows it, with when its stage times out.
 *
 * @module
 */

import type { PendingApproval } from "../approvals/mod.ts";
import type { DashboardOptions } from "./dashboard.ts";

/** When the stage `p` waits on times out (ms since the epoch). */
export function deadlineOf(options: DashboardOptions, p: PendingApproval): number {
  return p.since.getTime() + options.stageTimeoutMs(p.approver);
}

/** One held request as JSON. Its facts were redacted when it was held. */
export function approvalJsonOf(
  options: DashboardOptions,
  p: PendingApproval,
): Record<string, unknown> {
  const { request } = p;
  const deadline = deadlineOf(options, p);
  return {
    id: request.id,
    fingerprint: request.fingerprint,
    agent: request.agent.name,
    profile: request.agent.profile,
    endpoint: request.endpoint,
    protocol: request.protocol,
    rule: request.rule,
    reason: request.reason,
    summary: request.summary,
    facts: request.facts,
    approver: p.approver,
    quorum: p.quorum,
    allowed_by: [...p.allowedBy],
    since: p.since.toISOString(),
    deadline: new Date(deadline).toISOString(),
    time_left_ms: Math.max(0, deadline - Date.now()),
  };
}
