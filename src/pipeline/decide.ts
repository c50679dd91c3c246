/**
 * The decide arrow: the rules in force turn an action into a verdict. Whatever fails in between,
 * the verdict is a deny (fail closed); a deny's detail is scrubbed of credentials before it
 * reaches the operator log or the receipt.
 *
 * @module
 */

import type { Action, Facts, Logger, Outcome, ProtocolFamily, Verdict } from "../core/mod.ts";
import { type Policy, verdictOf } from "../policy/mod.ts";
import { REDACTED, redactFacts } from "../credentials/mod.ts";

/** Agent-facing reason when the gateway itself failed; the detail goes to the operator log. */
export const INTERNAL_ERROR = "the gateway could not decide this request";

/**
 * Called once per decided action, for metrics. `decisionMs` is the gateway's own work; for an action
 * held for approval, `approvalWaitMs` is the time from hand-over to the chain's outcome (else null).
 */
export type DecisionObserver = (
  protocol: ProtocolFamily,
  verdict: Verdict,
  decisionMs: number,
  approvalWaitMs: number | null,
) => void;

/** A rule's outcome that hands the action to an approval chain. */
export type ApproveOutcome = Extract<Outcome, { kind: "approve" }>;

/** What the rules made of one action. */
export interface Evaluated {
  /** The verdict, its detail scrubbed of credentials. */
  verdict: Verdict;
  /** The approval chain that decides the action, when one does (never in observe mode). */
  approve: ApproveOutcome | null;
  /** The action's facts as they may be recorded; unset when redaction failed. */
  facts: Facts | undefined;
}

/** Options for {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** The policy in force, read on every call so a reload swaps it between actions. */
  policy: () => Policy;
  /** Operator log: a deny's detail goes there, never to the agent. */
  log: Logger;
}

/**
 * Runs the rules for one action. Never throws: a policy that fails denies with
 * {@linkcode INTERNAL_ERROR}.
 *
 * @example
 * ```ts
 * const { verdict, approve } = evaluate(action, { policy: () => policy, log });
 * if (approve) hold(action, approve); // else record `verdict`
 * ```
 */
export function evaluate(action: Action, options: EvaluateOptions): Evaluated {
  let verdict: Verdict;
  let approve: ApproveOutcome | null = null;
  try {
    const { outcome, mode, observed } = options.policy().evaluate(action);
    verdict = verdictOf(outcome, mode, observed);
    // Held only when the approval decides: in observe mode the action goes through anyway.
    if (outcome.kind === "approve" && verdict.decision === "deny") approve = outcome;
  } catch (err) {
    verdict = verdictOf(
      { kind: "deny", rule: null, reason: INTERNAL_ERROR, detail: String(err) },
      "enforce",
    );
  }
  let facts: Facts | undefined;
  try {
    facts = redactFacts(action.facts);
    // An evaluation error can quote the fact it choked on, a credential header included.
    if (verdict.detail) {
      verdict = { ...verdict, detail: scrubDetail(verdict.detail, action.facts, facts) };
    }
  } catch (err) {
    if (verdict.detail) verdict = { ...verdict, detail: `(detail withheld: ${err})` };
  }
  if (verdict.detail) {
    options.log.log("warn", `deny detail: ${verdict.detail}`, {
      agent: action.agent.name,
      endpoint: action.endpoint,
      rule: verdict.rule,
    });
  }
  return { verdict, approve, facts };
}

/**
 * Replaces in `text` every header value that redaction hid (and its part after the scheme), so
 * a deny detail never carries a credential.
 */
export function scrubDetail(text: string, raw: Facts, redacted: Facts): string {
  const safe = redacted.http?.headers ?? {};
  const secrets: string[] = [];
  for (const [name, values] of Object.entries(raw.http?.headers ?? {})) {
    values.forEach((value, i) => {
      if (safe[name]?.[i] === value) return;
      secrets.push(value, value.replace(/^\S+\s+/, ""));
    });
  }
  // Longest first, so a token inside a longer value is not left half-replaced.
  for (const secret of secrets.filter(Boolean).sort((a, b) => b.length - a.length)) {
    text = text.replaceAll(secret, REDACTED);
  }
  return text;
}
