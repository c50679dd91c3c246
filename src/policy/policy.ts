/**
 * Decides actions: first matching rule per endpoint, fail closed, then modes.
 *
 * @module
 */

import type { Action, Mode, Outcome, Verdict } from "../core/mod.ts";
import { factsContext } from "./_facts.ts";
import { type FactsView, readsUnknown } from "./_analyze.ts";
import { RuleIndex } from "./_index.ts";
import type { CompiledRule } from "./compile.ts";

/** Agent-facing reason when a rule could not be evaluated; details go to the operator log. */
export const EVALUATION_FAILED = "policy could not evaluate this request";
/** Agent-facing reason when no rule matched and `defaults.no_match = "deny"`. */
export const NO_MATCH = "no rule allows this request";
/** Agent-facing reason for a rule that holds for approval while approvals are not wired. */
export const APPROVAL_REQUIRED = "approval required";

/** An outcome plus the mode that applies to it (the matched rule's, or the gateway's). */
export interface Evaluation {
  outcome: Outcome;
  mode: Mode;
}

/** Compiled rules, grouped per endpoint in evaluation order. */
export class Policy {
  readonly #byEndpoint: Map<string, CompiledRule[]>;
  readonly #indexes = new Map<string, RuleIndex>();
  readonly #noMatch: "allow" | "deny";
  readonly #gatewayMode: Mode;

  constructor(byEndpoint: Map<string, CompiledRule[]>, noMatch: "allow" | "deny", mode: Mode) {
    this.#byEndpoint = byEndpoint;
    this.#noMatch = noMatch;
    this.#gatewayMode = mode;
    for (const [endpoint, rules] of byEndpoint) {
      this.#indexes.set(endpoint, new RuleIndex(rules.map((r) => r.constraints ?? [])));
    }
  }

  /** Rules attached to an endpoint, in evaluation order. */
  rulesFor(endpoint: string): readonly CompiledRule[] {
    return this.#byEndpoint.get(endpoint) ?? [];
  }

  /** Number of compiled rule attachments (a rule on two endpoints counts twice). */
  get size(): number {
    let n = 0;
    for (const rules of this.#byEndpoint.values()) n += rules.length;
    return n;
  }

  /**
   * Runs the rules for the action's endpoint. First match wins. Any failure to evaluate a rule
   * that could match is a deny attributed to that rule.
   */
  evaluate(action: Action): Evaluation {
    const rules = action.endpoint === null ? undefined : this.#byEndpoint.get(action.endpoint);
    if (!rules) {
      return {
        outcome: {
          kind: "deny",
          rule: null,
          reason: "endpoint not configured",
          detail: `no endpoint named '${action.endpoint}' in this config`,
        },
        mode: this.#gatewayMode,
      };
    }
    const view: FactsView = {
      http: action.facts.http as unknown as Record<string, unknown> | undefined,
      sql: action.facts.sql as unknown as Record<string, unknown> | undefined,
      k8s: action.facts.k8s as unknown as Record<string, unknown> | undefined,
      agent: action.agent as unknown as Record<string, unknown>,
    };
    const unknown = action.unknown ?? [];
    const index = this.#indexes.get(action.endpoint!)!;
    const usable = unknown.length === 0 || !readsUnknown(new Set(index.facts), unknown);
    const positions = usable ? index.candidates(view) : null;
    const count = positions ? positions.length : rules.length;
    let ctx: Record<string, unknown> | undefined;
    for (let k = 0; k < count; k++) {
      const compiled = rules[positions ? positions[k] : k];
      const { rule } = compiled;
      if (rule.credential !== null && rule.credential !== action.credential) continue;
      if (!guardsPass(compiled, view, unknown)) continue;
      const mode: Mode = this.#modeOf(rule.mode);
      if (unknown.length > 0) {
        const missing = readsUnknown(compiled.reads, unknown);
        if (missing) {
          return {
            outcome: {
              kind: "deny",
              rule: rule.name,
              reason: EVALUATION_FAILED,
              detail: `rule '${rule.name}' reads ${missing}, which could not be established`,
            },
            mode,
          };
        }
      }
      ctx ??= factsContext(rule.family, action.facts, action.agent);
      let result: unknown;
      try {
        result = compiled.evaluate(ctx);
      } catch (err) {
        return {
          outcome: {
            kind: "deny",
            rule: rule.name,
            reason: EVALUATION_FAILED,
            detail: `rule '${rule.name}' failed: ${(err as Error).message.split("\n")[0]}`,
          },
          mode,
        };
      }
      if (result === false) continue;
      if (result !== true) {
        return {
          outcome: {
            kind: "deny",
            rule: rule.name,
            reason: EVALUATION_FAILED,
            detail: `rule '${rule.name}' returned a non-boolean value`,
          },
          mode,
        };
      }
      if (rule.approve.length > 0) {
        return {
          outcome: {
            kind: "approve",
            rule: rule.name,
            chain: rule.approve,
            reason: APPROVAL_REQUIRED,
          },
          mode,
        };
      }
      if (rule.verdict === "allow") return { outcome: { kind: "allow", rule: rule.name }, mode };
      return { outcome: { kind: "deny", rule: rule.name, reason: rule.reason }, mode };
    }
    const outcome: Outcome = this.#noMatch === "allow"
      ? { kind: "allow", rule: null }
      : { kind: "deny", rule: null, reason: NO_MATCH };
    return { outcome, mode: this.#gatewayMode };
  }

  /**
   * Evaluates and applies modes. An `approve` outcome denies with "approval required" until an
   * approval chain resolves it (the gateway's guard runs the chain before calling
   * {@linkcode verdictOf}).
   */
  decide(action: Action): Verdict {
    const { outcome, mode } = this.evaluate(action);
    return verdictOf(outcome, mode);
  }

  #modeOf(ruleMode: Mode | null): Mode {
    // A gateway in observe mode is a global dry run: no rule can make it block.
    return this.#gatewayMode === "observe" ? "observe" : ruleMode ?? "enforce";
  }
}

function guardsPass(compiled: CompiledRule, view: FactsView, unknown: readonly string[]): boolean {
  for (const guard of compiled.guards) {
    if (unknown.length > 0 && readsUnknown(new Set(guard.facts), unknown)) continue;
    if (!guard.test(view)) return false;
  }
  return true;
}

/** Applies a mode to an outcome: observe records the would-be decision and allows. */
export function verdictOf(outcome: Outcome, mode: Mode): Verdict {
  const wouldBe = outcome.kind === "allow" ? "allow" : "deny";
  const reason = outcome.kind === "allow" ? "allowed" : outcome.reason;
  const detail = outcome.kind === "deny" ? outcome.detail : undefined;
  return {
    decision: mode === "observe" ? "allow" : wouldBe,
    wouldBe,
    mode,
    rule: outcome.rule,
    reason,
    ...(detail ? { detail } : {}),
  };
}
