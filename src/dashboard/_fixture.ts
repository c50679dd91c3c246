/**
 * "Save as fixture": a receipt turned into a `clawpatrol test` case that expects what the
 * gateway decided, so a decision seen in production becomes a regression test as is.
 *
 * @module
 */

import { stringify } from "yaml";
import type { Mode, Receipt } from "../core/mod.ts";
import { actionInWords } from "./_words.ts";

/** What a fixture expects (`approve`: the rule held the action for approval). */
type Expected = "allow" | "deny" | "approve";

/**
 * The fixture file (YAML, one case) for `receipt`, or `null` for a receipt no rule set could
 * decide: the gateway's own refusals (unknown host, bad credentials) name no endpoint.
 *
 * @example
 * ```ts
 * const yaml = receiptFixture(receipt, "enforce"); // "- name: …\n  endpoint: api\n…"
 * ```
 */
export function receiptFixture(receipt: Receipt, gatewayMode: Mode): string | null {
  if (receipt.endpoint === null || receipt.protocol === "gateway") return null;
  const facts = receipt.facts;
  if (facts === null || typeof facts !== "object" || Object.keys(facts).length === 0) return null;
  const entry: Record<string, unknown> = {
    name: `${actionInWords(receipt)} (${receipt.id})`,
    endpoint: receipt.endpoint,
  };
  if (receipt.agent !== null) {
    entry.agent = { name: receipt.agent, profile: receipt.profile ?? "" };
  }
  entry.facts = facts;
  entry.expect = { verdict: expectedVerdict(receipt, gatewayMode), rule: receipt.rule };
  const header = `# Saved from receipt ${receipt.id} (seq ${receipt.seq}) by the clawpatrol ` +
    `dashboard.\n# Run: clawpatrol test THIS_FILE\n`;
  return header + stringify([entry], { lineWidth: 0 });
}

/**
 * What replaying the facts against the rules yields, read off the receipt: a rule that held the
 * action answers `approve` whatever the people decided; in gateway-wide observe mode the rules'
 * would-be verdict; an observe-mode rule of its own lets the action through (`allow`).
 */
function expectedVerdict(receipt: Receipt, gatewayMode: Mode): Expected {
  if (receipt.approvals.length > 0 && receipt.rule !== null) return "approve";
  if (receipt.mode !== "observe") return receipt.verdict;
  return gatewayMode === "observe" ? receipt.wouldBe : "allow";
}
