/**
 * The receipt: one row per decided action (DESIGN.md §6).
 *
 * @module
 */

import type { Decision, Mode } from "./action.ts";
import type { ProtocolFamily } from "./protocol.ts";

/** One stage of an approval chain as recorded on the receipt. */
export interface ApprovalStage {
  approver: string;
  /** `pass`: a deny-only judge let the next stage decide. */
  decision: Decision | "pass";
  /** Who decided: `llm:<model>`, `slack:<user>`, `cli:<operator>`, `webhook:<name>`. */
  who: string;
  reason: string;
  latencyMs: number;
}

/** What a caller hands the receipt store. Facts must already be redacted. */
export interface ReceiptInput {
  time: Date;
  agent: string | null;
  profile: string | null;
  endpoint: string | null;
  protocol: ProtocolFamily | "gateway";
  summary: string;
  facts: unknown;
  rule: string | null;
  mode: Mode;
  verdict: Decision;
  wouldBe: Decision;
  reason: string;
  approvals: ApprovalStage[];
  upstreamStatus: number | null;
  bytesIn: number;
  bytesOut: number;
  latencyMs: number;
  /**
   * The digest of the config that decided (16 hex digits; `clawpatrol check` prints it), so a
   * receipt says which policy it was. Absent on receipts written before it existed.
   */
  policy?: string | null;
}

/** What happened to an allowed action whose receipt was written before it was forwarded. */
export interface ReceiptOutcome {
  time: Date;
  upstreamStatus: number | null;
  bytesIn: number;
  bytesOut: number;
  latencyMs: number;
  /** Why the exchange ended abnormally (upstream failed, the agent went away), else null. */
  error: string | null;
  /** Allowed but never forwarded. */
  notRun: boolean;
}

/**
 * A stored receipt: the input plus its identity and place in the hash chain. For a receipt
 * written ahead of forwarding, `upstreamStatus`, the byte counts, `latencyMs` and the reason's
 * parenthesised error are taken from its outcome, as if written in one row.
 */
export interface Receipt extends ReceiptInput {
  /**
   * Set for receipts written ahead of forwarding: what happened, or `null` when the gateway
   * stopped before the exchange ended (the action may have run; its result is unknown).
   */
  outcome?: ReceiptOutcome | null;
  /** Public id shown to agents (`rcpt_…`). */
  id: string;
  /** Position in the chain, starting at 1. */
  seq: number;
  prevHash: string;
  hash: string;
}
