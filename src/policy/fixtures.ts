/**
 * Rule fixtures: an action's facts plus the expected verdict and rule, replayed against a policy
 * (`clawpatrol test`). Pure: parsing YAML and printing are the CLI's job.
 *
 * @module
 */

import type { Action, ProtocolFamily } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import { completeFacts } from "./complete.ts";
import type { Policy } from "./policy.ts";

/** What a fixture expects: `approve` means the rule holds the action for approval. */
export type ExpectedVerdict = "allow" | "deny" | "approve";

/** One replayed fixture case. */
export interface FixtureResult {
  name: string;
  ok: boolean;
  /** Rule that decided (null: no rule matched). */
  rule: string | null;
  /** Why it failed: a mismatch or a malformed case. */
  problem?: string;
}

const CASE_FIELDS = new Set([
  "name",
  "endpoint",
  "agent",
  "credential",
  "facts",
  "unknown",
  "expect",
]);

/**
 * Replays one fixture case (a parsed YAML mapping) against the policy.
 *
 * @example
 * ```ts
 * replayCase(config, policy, {
 *   name: "drop is denied", endpoint: "db",
 *   facts: { sql: { verbs: ["drop"] } }, expect: { verdict: "deny", rule: "pg-no-ddl" },
 * }).ok;
 * ```
 */
export function replayCase(config: Config, policy: Policy, raw: unknown, index = 0): FixtureResult {
  const fallbackName = `case ${index + 1}`;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { name: fallbackName, ok: false, rule: null, problem: "a case must be a mapping" };
  }
  const c = raw as Record<string, unknown>;
  const name = typeof c.name === "string" ? c.name : fallbackName;
  const bad = (problem: string): FixtureResult => ({ name, ok: false, rule: null, problem });
  for (const key of Object.keys(c)) {
    if (!CASE_FIELDS.has(key)) return bad(`unknown field '${key}'`);
  }
  if (typeof c.endpoint !== "string") return bad("'endpoint' (an endpoint name) is required");
  const endpoint = config.endpoints.get(c.endpoint);
  if (!endpoint) return bad(`no endpoint named '${c.endpoint}' in the config`);
  const expect = c.expect as Record<string, unknown> | undefined;
  if (!expect || typeof expect !== "object") return bad("'expect: {verdict, rule}' is required");
  const verdict = expect.verdict;
  if (verdict !== "allow" && verdict !== "deny" && verdict !== "approve") {
    return bad("'expect.verdict' must be allow, deny or approve");
  }
  if ("rule" in expect && expect.rule !== null && typeof expect.rule !== "string") {
    return bad("'expect.rule' must be a rule name or null");
  }
  const agentRaw = (c.agent ?? {}) as Record<string, unknown>;
  const agent = {
    name: typeof agentRaw.name === "string" ? agentRaw.name : "fixture-agent",
    profile: typeof agentRaw.profile === "string" ? agentRaw.profile : "fixture-profile",
  };
  let action: Action;
  try {
    const facts = completeFacts(
      endpoint.protocol as ProtocolFamily,
      (c.facts ?? {}) as Record<string, Record<string, unknown>>,
    );
    action = {
      protocol: endpoint.protocol,
      endpoint: endpoint.name,
      agent,
      credential: typeof c.credential === "string" ? c.credential : undefined,
      facts,
      unknown: Array.isArray(c.unknown) ? c.unknown.map(String) : undefined,
      summary: name,
    };
  } catch (err) {
    return bad((err as Error).message);
  }
  const { outcome } = policy.evaluate(action);
  const got: ExpectedVerdict = outcome.kind;
  const problems: string[] = [];
  if (got !== verdict) problems.push(`expected ${verdict}, got ${got}`);
  if ("rule" in expect && (expect.rule ?? null) !== outcome.rule) {
    problems.push(`expected rule ${expect.rule ?? "(none)"}, got ${outcome.rule ?? "(none)"}`);
  }
  if (problems.length > 0) {
    const detail = outcome.kind === "deny" && outcome.detail ? ` [${outcome.detail}]` : "";
    return { name, ok: false, rule: outcome.rule, problem: problems.join("; ") + detail };
  }
  return { name, ok: true, rule: outcome.rule };
}
