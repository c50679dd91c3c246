/**
 * A receipt as a rule fixture (`clawpatrol log fixture`): the endpoint, the agent and the facts it
 * recorded, and what the rules concluded, as a case `clawpatrol test` replays as it is. Pin a
 * decision the gateway took in production, then keep it while the rules change.
 *
 * @module
 */

import { stringify } from "yaml";
import type { Receipt } from "../core/mod.ts";
import { recorded } from "./_replay.ts";

/**
 * The case for `receipt`, or why there is none (the gateway decided without rules: there are no
 * facts to replay).
 *
 * @example
 * ```ts
 * const fixture = receiptFixture(receipt); // { name, endpoint, agent, facts, expect }
 * ```
 */
export function receiptFixture(receipt: Receipt): Record<string, unknown> | string {
  const stored = receipt.facts as Record<string, unknown> | null;
  const families = Object.keys(stored ?? {}).filter((k) => k !== "unknown");
  if (receipt.endpoint === null || !stored || families.length === 0) {
    return `receipt ${receipt.id} was decided without rules (no facts to replay)`;
  }
  const { unknown, ...facts } = stored;
  const { kind, rule } = recorded(receipt);
  return {
    name: `${receipt.summary.slice(0, 100)} (${receipt.id})`,
    endpoint: receipt.endpoint,
    agent: {
      name: receipt.agent ?? "fixture-agent",
      profile: receipt.profile ?? "fixture-profile",
    },
    facts,
    ...Array.isArray(unknown) && unknown.length > 0 ? { unknown } : {},
    expect: { verdict: kind, rule },
  };
}

/** The cases as one YAML document, a list `clawpatrol test` reads. */
export function fixturesYaml(cases: Record<string, unknown>[]): string {
  // BigInt facts (`sql.statement_count`) are stored as JSON numbers already.
  return stringify(cases, { lineWidth: 0 });
}
