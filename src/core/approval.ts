/**
 * The approval vocabulary: what an approver is asked (an approval request bound to one action
 * by its fingerprint) and what one stage of a chain answers.
 *
 * @module
 */

import type { AgentFacts, Decision, Facts } from "./action.ts";
import type { ProtocolFamily } from "./protocol.ts";

/** Approver kinds (config `approver KIND NAME`). */
export type ApproverKind = "llm_approver" | "human_approver" | "webhook_approver";

/**
 * One held action, as approvers see it. Facts are redacted (no credential reaches an approver);
 * the action itself stays in the gateway, so what runs is exactly what was approved.
 */
export interface ApprovalRequest {
  /** `apr_` + random: what `clawpatrol approvals approve ID` names. */
  id: string;
  /** sha256 (hex) of the canonical action: endpoint, agent, and the request or statement. */
  fingerprint: string;
  protocol: ProtocolFamily;
  endpoint: string;
  agent: AgentFacts;
  /** The rule that asked for approval, and its reason. */
  rule: string;
  reason: string;
  /** One-line summary (`DELETE /repos/acme/api`, `DROP TABLE users`). */
  summary: string;
  facts: Facts;
  createdAt: Date;
}

/**
 * What one stage answered. `pass` is a deny-only judge's "no objection": it never allows by
 * itself, it lets the next stage decide.
 */
export interface StageDecision {
  decision: Decision | "pass";
  /** Who decided: `llm:<model>`, `slack:<user id>`, `cli:<operator>`, `webhook:<name>`. */
  who: string;
  reason: string;
}

/** One approver of a chain. Built from config by the gateway; stateless per request. */
export interface Approver {
  /** `kind.name`, as rules name it. */
  readonly ref: string;
  readonly kind: ApproverKind;
  /** Stage timeout; `null`: the gateway default for the kind. */
  readonly timeoutMs: number | null;
  /**
   * Decides one request. Rejects on failure (the chain turns that into a deny, or a pass for an
   * LLM judge under `llm_fail_mode = "open"`). Must stop work when `signal` aborts (the agent
   * went away, or the stage timed out).
   */
  decide(request: ApprovalRequest, signal: AbortSignal): Promise<StageDecision>;
}
