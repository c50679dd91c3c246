/**
 * Rule fixtures: an action's facts plus the expected verdict and rule, replayed against a policy
 * (`clawpatrol test`). Pure: parsing YAML and printing are the CLI's job.
 *
 * @module
 */

import type { Action, Outcome, ProtocolFamily } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import { completeFacts } from "./complete.ts";
import type { Policy } from "./policy.ts";

/** What a fixture expects: `approve` means the rule holds the action for approval. */
export type ExpectedVerdict = "allow" | "deny" | "approve";

/** Facts for one action a fixture stands for, and the facts the protocol could not establish. */
export interface DerivedFacts {
  facts: Record<string, Record<string, unknown>>;
  unknown?: string[];
}

/**
 * Derives facts the way a protocol would, from what a fixture gives (the SQL facts of each
 * statement in `sql.statement`): one entry per action, or `null` to use the facts as given.
 */
export type FactsDeriver = (
  family: ProtocolFamily,
  facts: Record<string, Record<string, unknown>>,
) => DerivedFacts[] | null;

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
export function replayCase(
  config: Config,
  policy: Policy,
  raw: unknown,
  index = 0,
  derive?: FactsDeriver,
): FixtureResult {
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
  const given = (c.facts ?? {}) as Record<string, Record<string, unknown>>;
  const derived = derive?.(endpoint.protocol as ProtocolFamily, given) ?? [{ facts: given }];
  const caseUnknown = Array.isArray(c.unknown) ? c.unknown.map(String) : [];
  // A message of several statements is decided statement by statement; the first deny wins,
  // then the first hold for approval, as the gateway does.
  let outcome: Outcome | undefined;
  for (const { facts, unknown } of derived) {
    const allUnknown = [...caseUnknown, ...(unknown ?? [])];
    let action: Action;
    try {
      action = {
        protocol: endpoint.protocol,
        endpoint: endpoint.name,
        agent,
        credential: typeof c.credential === "string" ? c.credential : undefined,
        facts: completeFacts(endpoint.protocol as ProtocolFamily, facts),
        unknown: allUnknown.length > 0 ? allUnknown : undefined,
        summary: name,
      };
    } catch (err) {
      return bad((err as Error).message);
    }
    const next = policy.evaluate(action).outcome;
    if (!outcome || rank(next) > rank(outcome)) outcome = next;
    if (next.kind === "deny") break;
  }
  outcome ??= { kind: "allow", rule: null };
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

function rank(o: Outcome): number {
  return o.kind === "deny" ? 2 : o.kind === "approve" ? 1 : 0;
}
