/**
 * The receipt: one row per decided action (DESIGN.md §6).
 *
 * @module
 */

import type { Decision, Mode, ProtocolFamily } from "./action.ts";

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
}

/** A stored receipt: the input plus its identity and place in the hash chain. */
export interface Receipt extends ReceiptInput {
  /** Public id shown to agents (`rcpt_…`). */
  id: string;
  /** Position in the chain, starting at 1. */
  seq: number;
  prevHash: string;
  hash: string;
}
