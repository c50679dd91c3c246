/**
 * Compiles the rules of a {@linkcode Config} into a {@linkcode Policy}: every condition parsed,
 * literal-normalised and type-checked once, at load.
 *
 * @module
 */

import { ConfigError, type ConfigProblem, type Mode, type Protocol } from "../core/mod.ts";
import type { Config, Rule } from "../config/mod.ts";
import { environmentFor, factSchema } from "./_facts.ts";
import { lowercaseLiterals } from "./_lowercase.ts";
import { rewriteMatches } from "./_regex.ts";
import {
  type Constraint,
  extractGuards,
  factReads,
  type Guard,
  indexConstraints,
} from "./_analyze.ts";
import { type Exact, exactEvaluator } from "./_exact.ts";
import { Policy } from "./policy.ts";

/** A rule ready to evaluate. */
export interface CompiledRule {
  rule: Rule;
  /** The registered protocol of the rule's family: whose facets its condition reads. */
  protocol: Protocol;
  /** The condition after literal normalisation (what actually runs). */
  condition: string;
  evaluate: (ctx: Record<string, unknown>) => unknown;
  reads: Set<string>;
  guards: Guard[];
  /** Decides the condition in plain JS when its shape allows (see `_exact.ts`). */
  exact?: Exact;
  /** Necessary conditions on string facts, for the per-endpoint index. */
  constraints?: Constraint[];
}

/** Options for {@linkcode compilePolicy} and {@linkcode checkRuleConditions}. */
export interface CompileOptions {
  /**
   * The registered protocols (`src/protocols/registry.ts`): a rule's condition is checked
   * against the facets its family declares.
   */
  protocols: readonly Protocol[];
  /** The digest of the config's files, recorded on every receipt the policy decides. */
  digest?: string;
}

/**
 * Compiles every rule's condition against its family's fact schema.
 *
 * @example
 * ```ts
 * const config = await loadConfig("gateway.hcl", { protocols: PROTOCOLS });
 * const policy = compilePolicy(config, { protocols: PROTOCOLS });
 * policy.decide(action).decision; // "allow" | "deny"
 * ```
 * @throws {ConfigError} listing every rule whose condition does not parse or type-check.
 */
export function compilePolicy(config: Config, options: CompileOptions): Policy {
  const problems: ConfigProblem[] = [];
  const byEndpoint = new Map<string, CompiledRule[]>();
  for (const name of config.endpoints.keys()) byEndpoint.set(name, []);
  for (const rule of config.rules) {
    const compiled = compileRule(rule, problems, options);
    if (!compiled) continue;
    for (const endpoint of rule.endpoints) byEndpoint.get(endpoint)?.push(compiled);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  for (const rules of byEndpoint.values()) {
    // Higher priority first; equal priorities keep declaration order (sort is stable).
    rules.sort((a, b) => b.rule.priority - a.rule.priority || a.rule.order - b.rule.order);
  }
  const allowUnknown = [...config.endpoints.values()].filter((e) =>
    e.unknownPlaceholders === "allow"
  );
  return new Policy(byEndpoint, config.defaults.noMatch, config.gateway.mode as Mode, {
    misplacedPlaceholder: config.defaults.misplacedPlaceholder,
    allowUnknownPlaceholders: new Set(allowUnknown.map((e) => e.name)),
    protocols: options.protocols,
    digest: options.digest,
  });
}

/**
 * Compiled rules by config object (and registry), so checking at load and building the policy
 * compile once.
 */
const compiledCache = new WeakMap<
  readonly Protocol[],
  WeakMap<Rule, { compiled: CompiledRule | null; problems: ConfigProblem[] }>
>();

/**
 * Checks every rule's condition, returning the problems. Plugs into `loadConfig`'s
 * `checkRules` so CEL mistakes are reported together with structural ones.
 */
export function checkRuleConditions(rules: Rule[], options: CompileOptions): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const rule of rules) compileRule(rule, problems, options);
  return problems;
}

/** Compiles one rule, or records why it cannot be compiled. */
export function compileRule(
  rule: Rule,
  problems: ConfigProblem[],
  options: CompileOptions,
): CompiledRule | null {
  let cache = compiledCache.get(options.protocols);
  if (!cache) compiledCache.set(options.protocols, cache = new WeakMap());
  const cached = cache.get(rule);
  if (cached) {
    problems.push(...cached.problems);
    return cached.compiled;
  }
  const own: ConfigProblem[] = [];
  const compiled = compileUncached(rule, own, options.protocols);
  cache.set(rule, { compiled, problems: own });
  problems.push(...own);
  return compiled;
}

function compileUncached(
  rule: Rule,
  problems: ConfigProblem[],
  protocols: readonly Protocol[],
): CompiledRule | null {
  const where = (message: string) =>
    problems.push({
      file: rule.conditionSource.file,
      line: rule.conditionSource.line,
      message: `rule "${rule.name}": condition: ${message}`,
    });
  const protocol = protocols.find((p) => p.family === rule.family);
  if (!protocol) {
    // Config only reads endpoints of registered families; a rule of another is a caller's bug.
    where(`no registered protocol "${rule.family}"`);
    return null;
  }
  const env = environmentFor(protocol);
  const schema = factSchema(protocols);
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
      protocol,
      condition,
      evaluate: parsed as unknown as (ctx: Record<string, unknown>) => unknown,
      reads: factReads(parsed.ast, schema),
      guards: extractGuards(parsed.ast, schema),
      exact: exactEvaluator(parsed.ast, protocol) ?? undefined,
      constraints: indexConstraints(parsed.ast, schema),
    };
  } catch (err) {
    where(firstLine((err as Error).message));
    return null;
  }
}

function firstLine(message: string): string {
  return message.split("\n")[0].trim();
}
