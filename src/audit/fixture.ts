/**
 * A receipt as a rule fixture: the endpoint, the agent and the facts it recorded, and what the
 * rules concluded, as a case `clawpatrol test` replays as it is. One module for
 * `clawpatrol log fixture` and the dashboard's "Save as fixture", so the two cannot disagree on
 * what a decision was.
 *
 * @module
 */

import type { Mode, Receipt } from "../core/mod.ts";

/** What a fixture expects (`approve`: the rule held the action for approval). */
export type FixtureVerdict = "allow" | "deny" | "approve";

/** The config the fixture will be tested against, as far as the expected verdict depends on it. */
export interface ReceiptFixtureOptions {
  /** `gateway.mode`: in observe mode a receipt's verdict is always allow, its would-be is not. */
  gatewayMode: Mode;
  /**
   * The mode of the rule named on the receipt (`undefined`: no such rule). Tells an observe-mode
   * rule that let the action through from a gateway-wide dry run, which record alike.
   * @default every rule in force (`enforce`)
   */
  ruleMode?: (rule: string) => Mode | undefined;
}

/** What the policy says when a rule holds an action; recorded as the reason in observe mode. */
const APPROVAL_REQUIRED = "approval required";

/**
 * The case for `receipt`, or why there is none: the gateway's own refusals (unknown host, bad
 * credentials) were decided without rules, so there are no facts to replay. Facts the protocol
 * could not establish (`unknown` on the receipt) become the case's `unknown`, so a rule reading
 * them is denied in the test as it was at the gateway.
 *
 * @example
 * ```ts
 * const fixture = receiptFixture(receipt, { gatewayMode: "enforce" });
 * if (typeof fixture !== "string") console.log(await fixturesYaml([fixture]));
 * ```
 */
export function receiptFixture(
  receipt: Receipt,
  options: ReceiptFixtureOptions,
): Record<string, unknown> | string {
  const stored = receipt.facts;
  const record = stored !== null && typeof stored === "object" && !Array.isArray(stored)
    ? stored as Record<string, unknown>
    : {};
  const { unknown: listed, ...recorded } = record;
  const unknown = Array.isArray(listed) ? listed.map(String) : [];
  const facts = withoutUnknown(recorded, unknown);
  if (
    receipt.endpoint === null || receipt.protocol === "gateway" || !Object.keys(recorded).length
  ) {
    return `receipt ${receipt.id} was decided without rules (no facts to replay)`;
  }
  const agent = receipt.agent === null
    ? {}
    : { agent: { name: receipt.agent, profile: receipt.profile ?? "" } };
  const who = receipt.agent === null ? "" : `${receipt.agent}: `;
  return {
    name: `${who}${receipt.summary.slice(0, 100)} (${receipt.id})`,
    endpoint: receipt.endpoint,
    ...agent,
    facts,
    ...unknown.length > 0 ? { unknown } : {},
    expect: { verdict: expectedVerdict(receipt, options), rule: receipt.rule },
  };
}

/**
 * The facts without those the protocol could not establish (`http.graphql`, or a whole family as
 * `sql.*`): what a receipt holds there (a sample of a cut body, `null`) is no value of the fact,
 * and `clawpatrol test` refuses a `null` where the fact has a type.
 */
function withoutUnknown(
  facts: Record<string, unknown>,
  unknown: readonly string[],
): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [family, fields] of Object.entries(facts)) {
    if (unknown.includes(`${family}.*`)) continue;
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      kept[family] = fields;
      continue;
    }
    kept[family] = Object.fromEntries(
      Object.entries(fields).filter(([field]) => !unknown.includes(`${family}.${field}`)),
    );
  }
  return kept;
}

/**
 * The cases as one YAML document, a list `clawpatrol test` reads, after `comment` (each line
 * prefixed with `# `).
 */
export async function fixturesYaml(
  cases: Record<string, unknown>[],
  comment = "",
): Promise<string> {
  // Loaded on first use: the receipt store (this folder's main user) never needs YAML.
  const { stringify } = await import("yaml");
  const header = comment.split("\n").filter(Boolean).map((line) => `# ${line}\n`).join("");
  // Facts come back from the store as JSON, so there is no BigInt to convert.
  return header + stringify(cases, { lineWidth: 0 });
}

/**
 * What replaying the facts against the rules yields (the policy's outcome, before any mode turns
 * it into an allow), read off the receipt:
 * - a rule that held the action answers `approve`, whatever the people decided, and also in a
 *   gateway-wide dry run, where no one is asked and the receipt only says approval was required;
 * - an observe-mode rule that matched first lets the action through: `allow`;
 * - in a gateway-wide dry run the verdict is always allow: the would-be verdict is the outcome;
 * - otherwise the verdict is the outcome.
 */
function expectedVerdict(receipt: Receipt, options: ReceiptFixtureOptions): FixtureVerdict {
  const rule = receipt.rule;
  if (rule !== null && receipt.approvals.length > 0) return "approve";
  if (receipt.mode !== "observe") return receipt.verdict;
  if (rule !== null && options.ruleMode?.(rule) === "observe") return "allow";
  if (options.gatewayMode !== "observe") return "allow";
  if (rule !== null && receipt.reason.startsWith(APPROVAL_REQUIRED)) return "approve";
  return receipt.wouldBe;
}
