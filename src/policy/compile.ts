/**
 * Compiles the rules of a {@linkcode Config} into a {@linkcode Policy}: every condition parsed,
 * literal-normalised and type-checked once, at load.
 *
 * @module
 */

import { ConfigError, type ConfigProblem, type Mode } from "../core/mod.ts";
import type { Config, Rule } from "../config/mod.ts";
import { environmentFor } from "./_facts.ts";
import { lowercaseLiterals } from "./_lowercase.ts";
import { rewriteMatches } from "./_regex.ts";
import {
  type Constraint,
  extractGuards,
  factReads,
  type Guard,
  indexConstraints,
} from "./_analyze.ts";
import { Policy } from "./policy.ts";

/** A rule ready to evaluate. */
export interface CompiledRule {
  rule: Rule;
  /** The condition after literal normalisation (what actually runs). */
  condition: string;
  evaluate: (ctx: Record<string, unknown>) => unknown;
  reads: Set<string>;
  guards: Guard[];
  /** Necessary conditions on string facts, for the per-endpoint index. */
  constraints?: Constraint[];
}

/**
 * Compiles every rule's condition against its family's fact schema.
 *
 * @example
 * ```ts
 * const policy = compilePolicy(await loadConfig("gateway.hcl"));
 * policy.decide(action).decision; // "allow" | "deny"
 * ```
 * @throws {ConfigError} listing every rule whose condition does not parse or type-check.
 */
export function compilePolicy(config: Config): Policy {
  const problems: ConfigProblem[] = [];
  const byEndpoint = new Map<string, CompiledRule[]>();
  for (const name of config.endpoints.keys()) byEndpoint.set(name, []);
  for (const rule of config.rules) {
    const compiled = compileRule(rule, problems);
    if (!compiled) continue;
    for (const endpoint of rule.endpoints) byEndpoint.get(endpoint)?.push(compiled);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  for (const rules of byEndpoint.values()) {
    // Higher priority first; equal priorities keep declaration order (sort is stable).
    rules.sort((a, b) => b.rule.priority - a.rule.priority || a.rule.order - b.rule.order);
  }
  const allowUnknown = [...config.endpoints.values()].filter((e) =>
    e.protocol !== "postgres" && e.unknownPlaceholders === "allow"
  );
  return new Policy(byEndpoint, config.defaults.noMatch, config.gateway.mode as Mode, {
    misplacedPlaceholder: config.defaults.misplacedPlaceholder,
    allowUnknownPlaceholders: new Set(allowUnknown.map((e) => e.name)),
  });
}

/** Compiled rules by config object, so checking at load and building the policy compile once. */
const compiledCache = new WeakMap<
  Rule,
  { compiled: CompiledRule | null; problems: ConfigProblem[] }
>();

/**
 * Checks every rule's condition, returning the problems. Plugs into `loadConfig`'s
 * `checkRules` so CEL mistakes are reported together with structural ones.
 */
export function checkRuleConditions(rules: Rule[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const rule of rules) compileRule(rule, problems);
  return problems;
}

/** Compiles one rule, or records why it cannot be compiled. */
export function compileRule(rule: Rule, problems: ConfigProblem[]): CompiledRule | null {
  const cached = compiledCache.get(rule);
  if (cached) {
    problems.push(...cached.problems);
    return cached.compiled;
  }
  const own: ConfigProblem[] = [];
  const compiled = compileUncached(rule, own);
  compiledCache.set(rule, { compiled, problems: own });
  problems.push(...own);
  return compiled;
}

function compileUncached(rule: Rule, problems: ConfigProblem[]): CompiledRule | null {
  const env = environmentFor(rule.family);
  const where = (message: string) =>
    problems.push({
      file: rule.conditionSource.file,
      line: rule.conditionSource.line,
      message: `rule "${rule.name}": condition: ${message}`,
    });
  try {
    const first = env.parse(rule.condition);
    const lowered = lowercaseLiterals(rule.condition, first.ast);
    const rewritten = rewriteMatches(lowered, env.parse(lowered).ast);
    if ("error" in rewritten) {
      where(rewritten.error);
      return null;
    }
    const condition = rewritten.source;
    const parsed = condition === rule.condition ? first : env.parse(condition);
    const checked = env.check(condition);
    if (!checked.valid) {
      where(firstLine(checked.error?.message ?? "does not type-check"));
      return null;
    }
    if (checked.type !== "bool" && checked.type !== "dyn") {
      where(`must be true or false, but is of type ${checked.type}`);
      return null;
    }
    return {
      rule,
      condition,
      evaluate: parsed as unknown as (ctx: Record<string, unknown>) => unknown,
      reads: factReads(parsed.ast),
      guards: extractGuards(parsed.ast),
      constraints: indexConstraints(parsed.ast),
    };
  } catch (err) {
    where(firstLine((err as Error).message));
    return null;
  }
}

function firstLine(message: string): string {
  return message.split("\n")[0].trim();
}
