/**
 * The guard protocols call: `decide(action)` runs the rules, applies modes, writes the receipt and
 * logs operator detail. Whatever fails in between, the answer is a deny (fail closed).
 *
 * @module
 */

import type { Action, Facts, Verdict } from "../core/mod.ts";
import { AuditUnavailableError } from "../core/mod.ts";
import type { ReceiptStore } from "../audit/mod.ts";
import { type Policy, verdictOf } from "../policy/mod.ts";
import { REDACTED, redactFacts } from "../credentials/mod.ts";
import type { Logger } from "./log.ts";

/** A decided action: the verdict and the receipt that records it (`null`: could not record). */
export interface Decided {
  verdict: Verdict;
  receipt: string | null;
}

/** Agent-facing reason when the gateway itself failed; the detail goes to the operator log. */
export const INTERNAL_ERROR = "the gateway could not decide this request";
/** Agent-facing reason when receipts cannot be recorded: nothing is forwarded unrecorded. */
export const AUDIT_UNAVAILABLE = "the gateway cannot record decisions right now";

/** Decides actions against the current policy and records every decision. */
export class Guard {
  #policy: () => Policy;
  #receipts: ReceiptStore;
  #log: Logger;

  /** `policy` is read on every call, so hot reload swaps it atomically between actions. */
  constructor(policy: () => Policy, receipts: ReceiptStore, log: Logger) {
    this.#policy = policy;
    this.#receipts = receipts;
    this.#log = log;
  }

  /**
   * Decides one action and records its receipt. Never throws: internal failures deny.
   *
   * @example
   * ```ts
   * const { verdict, receipt } = guard.decide(action);
   * if (verdict.decision === "deny") return deny(verdict.reason, receipt);
   * ```
   */
  decide(action: Action): Decided {
    const started = performance.now();
    let verdict: Verdict;
    try {
      verdict = this.#policy().decide(action);
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
        verdict = { ...verdict, detail: scrub(verdict.detail, action.facts, facts) };
      }
    } catch (err) {
      if (verdict.detail) verdict = { ...verdict, detail: `(detail withheld: ${err})` };
    }
    if (verdict.detail) {
      this.#log.log("warn", `deny detail: ${verdict.detail}`, {
        agent: action.agent.name,
        endpoint: action.endpoint,
        rule: verdict.rule,
      });
    }
    let receipt: string | null = null;
    try {
      receipt = this.#receipts.record({
        time: new Date(),
        agent: action.agent.name,
        profile: action.agent.profile,
        endpoint: action.endpoint,
        protocol: action.protocol,
        summary: action.summary,
        facts: {
          ...(facts ?? redactFacts(action.facts)),
          ...(action.unknown?.length ? { unknown: action.unknown } : {}),
        },
        rule: verdict.rule,
        mode: verdict.mode,
        verdict: verdict.decision,
        wouldBe: verdict.wouldBe,
        reason: verdict.detail ? `${verdict.reason} (${verdict.detail})` : verdict.reason,
        approvals: [],
        upstreamStatus: null,
        bytesIn: 0,
        bytesOut: 0,
        latencyMs: performance.now() - started,
      });
    } catch (err) {
      // Never forward what cannot be recorded.
      const why = err instanceof AuditUnavailableError ? err.message : String(err);
      this.#log.log("error", `receipt not recorded, denying: ${why}`, {
        agent: action.agent.name,
        endpoint: action.endpoint,
      });
      verdict = {
        decision: "deny",
        wouldBe: "deny",
        mode: "enforce",
        rule: verdict.rule,
        reason: AUDIT_UNAVAILABLE,
      };
    }
    return { verdict, receipt };
  }
}

/** Replaces in `text` every header value that redaction hid (and its part after the scheme). */
function scrub(text: string, raw: Facts, redacted: Facts): string {
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
