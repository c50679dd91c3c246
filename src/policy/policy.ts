/**
 * Decides actions: first matching rule per endpoint, fail closed, then modes.
 *
 * @module
 */

import type { Action, Mode, Outcome, Protocol, ProtocolFamily, Verdict } from "../core/mod.ts";
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

/** Agent-facing reason when a placeholder appears where its credential cannot be substituted. */
export function misplacedPlaceholderReason(names: readonly string[]): string {
  const list = names.map((n) => `'${n}'`).join(", ");
  return `placeholder for credential ${list} used where the gateway does not substitute it`;
}

/** How many unknown placeholders a reason names before it counts the rest. */
const UNKNOWN_NAMED = 3;

/**
 * Agent-facing reason when a request carries placeholder-shaped text naming no credential. Names
 * the texts the agent sent (never a secret: none of them is a configured placeholder).
 *
 * @example
 * ```ts
 * unknownPlaceholderReason(["{{nope}}"]);
 * // "placeholder '{{nope}}' names no credential configured on the gateway"
 * ```
 */
export function unknownPlaceholderReason(texts: readonly string[]): string {
  const named = texts.slice(0, UNKNOWN_NAMED).map((t) => `'${t}'`).join(", ");
  const more = texts.length > UNKNOWN_NAMED ? ` and ${texts.length - UNKNOWN_NAMED} more` : "";
  return texts.length === 1
    ? `placeholder ${named} names no credential configured on the gateway`
    : `placeholders ${named}${more} name no credential configured on the gateway`;
}

/** Options for {@linkcode Policy}. */
export interface PolicyOptions {
  /**
   * Verdict for a request carrying a placeholder in a place its credential is not substituted
   * (another endpoint, a location outside `substitute_in`, a credential outside the profile).
   * @default {"deny"}
   */
  misplacedPlaceholder?: "allow" | "deny";
  /**
   * Endpoints whose `unknown_placeholders = "allow"`: placeholder-shaped text naming no
   * credential is left to their rules. Every other endpoint denies it before any rule.
   * @default {new Set()}
   */
  allowUnknownPlaceholders?: ReadonlySet<string>;
  /** The registered protocols the rules were compiled against. @default {[]} */
  protocols?: readonly Protocol[];
  /** The digest of the config the policy was compiled from, recorded on its receipts. */
  digest?: string;
}

/**
 * The outcome in force, the mode it was reached in, and the outcome of an observe-mode rule that
 * matched first (what enforce mode would do once that rule is promoted).
 */
export interface Evaluation {
  outcome: Outcome;
  mode: Mode;
  observed?: Outcome;
}

/** Compiled rules, grouped per endpoint in evaluation order. */
export class Policy {
  readonly #byEndpoint: Map<string, CompiledRule[]>;
  readonly #indexes = new Map<string, RuleIndex>();
  readonly #noMatch: "allow" | "deny";
  readonly #gatewayMode: Mode;
  readonly #misplaced: "allow" | "deny";
  readonly #allowUnknown: ReadonlySet<string>;
  readonly #protocols: readonly Protocol[];
  /** The digest of the config it was compiled from (`null`: compiled from text alone). */
  readonly digest: string | null;

  constructor(
    byEndpoint: Map<string, CompiledRule[]>,
    noMatch: "allow" | "deny",
    mode: Mode,
    options: PolicyOptions = {},
  ) {
    this.#byEndpoint = byEndpoint;
    this.#noMatch = noMatch;
    this.#gatewayMode = mode;
    this.#misplaced = options.misplacedPlaceholder ?? "deny";
    this.#allowUnknown = options.allowUnknownPlaceholders ?? new Set();
    this.#protocols = options.protocols ?? [];
    this.digest = options.digest ?? null;
    for (const [endpoint, rules] of byEndpoint) {
      this.#indexes.set(endpoint, new RuleIndex(rules.map((r) => r.constraints ?? [])));
    }
  }

  /** The registered protocol of a family (its facets), or `undefined` when none is. */
  protocolOf(family: ProtocolFamily): Protocol | undefined {
    return this.#protocols.find((p) => p.family === family);
  }

  /** Rules attached to an endpoint, in evaluation order. */
  rulesFor(endpoint: string): readonly CompiledRule[] {
    return this.#byEndpoint.get(endpoint) ?? [];
  }

  /**
   * Whether any rule on the endpoint reads `fact` (`family.field`), directly or through the
   * whole family object. Lets a protocol collect a costly fact only when a rule can see it.
   */
  reads(endpoint: string, fact: string): boolean {
    return (this.#byEndpoint.get(endpoint) ?? []).some((r) =>
      readsUnknown(r.reads, [fact]) !== null
    );
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
    // A placeholder where it is not substituted is either a confused tool or an attempt to make
    // the upstream (or a log it keeps) reveal which secret the gateway holds: no rule overrides it.
    const misplaced = action.facts.http?.misplaced_placeholders ?? [];
    if (misplaced.length > 0 && this.#misplaced === "deny") {
      return {
        outcome: { kind: "deny", rule: null, reason: misplacedPlaceholderReason(misplaced) },
        mode: this.#gatewayMode,
      };
    }
    // An agent expecting a secret where it wrote `{{…}}` would otherwise send the literal text
    // upstream, and an unexpected upstream answer would be all that told anyone.
    const unknownTexts = action.facts.http?.unknown_placeholders ?? [];
    if (unknownTexts.length > 0 && !this.#allowUnknown.has(action.endpoint!)) {
      return {
        outcome: {
          kind: "deny",
          rule: null,
          reason: unknownPlaceholderReason(unknownTexts),
          detail: `endpoint '${action.endpoint}' has unknown_placeholders = "deny"; set it to ` +
            `"allow" if its upstream expects such text`,
        },
        mode: this.#gatewayMode,
      };
    }
    // Every facet the action carries, whichever protocols are registered.
    const view = { ...action.facts, agent: action.agent } as unknown as FactsView;
    const unknown = action.unknown ?? [];
    const index = this.#indexes.get(action.endpoint!)!;
    const usable = unknown.length === 0 || !readsUnknown(new Set(index.facts), unknown);
    const positions = usable ? index.candidates(view) : null;
    const count = positions ? positions.length : rules.length;
    let ctx: Record<string, unknown> | undefined;
    const context = () => (ctx ??= factsContext(rules[0].protocol, action.facts, action.agent));
    // The first observe-mode rule that matches is recorded as the would-be outcome; evaluation
    // then continues over enforced rules only, so trialling a rule never weakens one in force.
    let observed: Outcome | undefined;
    for (let k = 0; k < count; k++) {
      const compiled = rules[positions ? positions[k] : k];
      const { rule } = compiled;
      if (rule.credential !== null && rule.credential !== action.credential) continue;
      const observing = rule.mode === "observe";
      if (observing && observed) continue;
      if (!guardsPass(compiled, view, unknown)) continue;
      // With every fact known, a condition plain JS can decide skips CEL (and wrapping the
      // facts for it); one it cannot be sure of still goes to CEL.
      const decided = compiled.exact && unknown.length === 0 ? compiled.exact(view) : undefined;
      const outcome = decided === undefined
        ? matchRule(compiled, context, unknown)
        : decided
        ? matchedOutcome(compiled.rule)
        : null;
      if (!outcome) continue;
      if (observing) {
        observed = outcome;
        continue;
      }
      return { outcome, mode: this.#gatewayMode, ...(observed ? { observed } : {}) };
    }
    if (observed) {
      // The observe rule matched and nothing enforced did: it allows, as observe mode promises.
      return { outcome: { kind: "allow", rule: observed.rule }, mode: "observe", observed };
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
    const { outcome, mode, observed } = this.evaluate(action);
    return verdictOf(outcome, mode, observed);
  }
}

/**
 * Runs one rule that passed its credential predicate and guards: its outcome when it matches (or
 * cannot be evaluated, which denies), `null` when its condition is false.
 */
function matchRule(
  compiled: CompiledRule,
  context: () => Record<string, unknown>,
  unknown: readonly string[],
): Outcome | null {
  const { rule } = compiled;
  const failed = (detail: string): Outcome => ({
    kind: "deny",
    rule: rule.name,
    reason: EVALUATION_FAILED,
    detail,
  });
  if (unknown.length > 0) {
    const missing = readsUnknown(compiled.reads, unknown);
    if (missing) {
      return failed(`rule '${rule.name}' reads ${missing}, which could not be established`);
    }
  }
  let result: unknown;
  try {
    result = compiled.evaluate(context());
  } catch (err) {
    return failed(`rule '${rule.name}' failed: ${(err as Error).message.split("\n")[0]}`);
  }
  if (result === false) return null;
  if (result !== true) return failed(`rule '${rule.name}' returned a non-boolean value`);
  return matchedOutcome(rule);
}

/** The outcome of a rule whose condition holds. */
function matchedOutcome(rule: CompiledRule["rule"]): Outcome {
  if (rule.approve.length > 0) {
    return {
      kind: "approve",
      rule: rule.name,
      chain: rule.approve,
      reason: APPROVAL_REQUIRED,
      because: rule.reason,
    };
  }
  if (rule.verdict === "allow") return { kind: "allow", rule: rule.name };
  return { kind: "deny", rule: rule.name, reason: rule.reason };
}

function guardsPass(compiled: CompiledRule, view: FactsView, unknown: readonly string[]): boolean {
  for (const guard of compiled.guards) {
    if (unknown.length > 0 && readsUnknown(new Set(guard.facts), unknown)) continue;
    if (!guard.test(view)) return false;
  }
  return true;
}

/**
 * Applies a mode to an outcome. In observe mode (the gateway's) the decision is allow and the
 * would-be decision is recorded; an `observed` outcome (an observe-mode rule that matched first)
 * supplies the would-be decision while the enforced outcome decides.
 */
export function verdictOf(outcome: Outcome, mode: Mode, observed?: Outcome): Verdict {
  const decisionOf = (o: Outcome) => o.kind === "allow" ? "allow" : "deny";
  const shadow = observed ?? outcome;
  // The observe rule itself allowed the action: nothing enforced matched after it.
  const observeAllowed = observed !== undefined && outcome.rule === observed.rule;
  const reasonOf = (o: Outcome) => o.kind === "allow" ? "allowed" : o.reason;
  const details: string[] = [];
  if (outcome.kind === "deny" && outcome.detail) details.push(outcome.detail);
  if (observed?.kind === "deny" && observed.detail && observed !== outcome) {
    details.push(observed.detail);
  }
  if (observed && !observeAllowed) {
    details.push(`observe rule '${observed.rule}' would ${observed.kind}`);
  }
  return {
    decision: mode === "observe" ? "allow" : decisionOf(outcome),
    wouldBe: decisionOf(shadow),
    mode: observeAllowed ? "observe" : mode,
    rule: outcome.rule,
    reason: observeAllowed ? reasonOf(observed) : reasonOf(outcome),
    ...(details.length > 0 ? { detail: details.join("; ") } : {}),
  };
}
