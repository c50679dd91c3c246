/**
 * Per-endpoint rule index: each rule is filed under one necessary condition on a string fact
 * (`http.method == 'post'`, `http.path.startsWith('/repos/')`, `http.host.endsWith('.corp')`),
 * so a decision looks at the few rules that can match instead of all of them. Candidates are
 * returned in rule order, so "first match wins" is unchanged.
 *
 * @module
 */

import type { Constraint, FactsView } from "./_analyze.ts";
import { AffixTree } from "./_affix_tree.ts";

/** Facts whose values spread widely come first when picking a rule's index key. */
const COARSE_FACTS = new Set(["http.method", "http.scheme", "sql.verb", "k8s.verb"]);

/** A fact's path in the view, split once: `http.method` → `["http", "method"]`. */
type FactPath = readonly [family: string, field: string];

interface EqIndex {
  fact: FactPath;
  byValue: Map<string, number[]>;
}

interface AffixIndex {
  fact: FactPath;
  tree: AffixTree;
}

/** Candidate rule positions for an action, in order. */
export class RuleIndex {
  readonly #size: number;
  readonly #always: number[] = [];
  readonly #eq: EqIndex[] = [];
  readonly #affix: AffixIndex[] = [];
  readonly #facts: string[];

  /** `constraints[i]` are the index-able constraints of the rule at position `i`. */
  constructor(constraints: Constraint[][]) {
    this.#size = constraints.length;
    const eq = new Map<string, Map<string, number[]>>();
    const affix = { prefix: new Map<string, AffixTree>(), suffix: new Map<string, AffixTree>() };
    constraints.forEach((list, position) => {
      const key = pick(list);
      if (!key) {
        this.#always.push(position);
      } else if (key.kind === "eq") {
        const byValue = eq.get(key.fact) ?? new Map<string, number[]>();
        for (const v of key.values) byValue.set(v, [...(byValue.get(v) ?? []), position]);
        eq.set(key.fact, byValue);
      } else {
        const trees = affix[key.kind];
        const tree = trees.get(key.fact) ?? new AffixTree(key.kind);
        tree.add(key.value, position);
        trees.set(key.fact, tree);
      }
    });
    for (const [fact, byValue] of eq) this.#eq.push({ fact: split(fact), byValue });
    for (const trees of [affix.prefix, affix.suffix]) {
      for (const [fact, tree] of trees) this.#affix.push({ fact: split(fact), tree });
    }
    this.#facts = [...new Set([...eq.keys(), ...affix.prefix.keys(), ...affix.suffix.keys()])];
  }

  /** Facts the index reads; when any is unknown for an action, use every rule. */
  get facts(): readonly string[] {
    return this.#facts;
  }

  /**
   * Positions of the rules that can match, ascending; `null` means "all rules" (an indexed fact
   * is missing or not a string, so CEL must see every rule and report the problem).
   */
  candidates(view: FactsView): number[] | null {
    if (this.#facts.length === 0) return null;
    const found: number[] = this.#always.slice();
    for (const { fact, byValue } of this.#eq) {
      const v = read(view, fact);
      if (v === undefined) return null;
      const hit = byValue.get(v);
      if (hit) { for (const p of hit) found.push(p); }
    }
    for (const { fact, tree } of this.#affix) {
      const v = read(view, fact);
      if (v === undefined) return null;
      tree.collect(v, found);
    }
    if (found.length === this.#size) return null;
    return found.length > 1 ? found.sort((a, b) => a - b) : found;
  }
}

function split(fact: string): FactPath {
  const dot = fact.indexOf(".");
  return [fact.slice(0, dot), fact.slice(dot + 1)];
}

function read(view: FactsView, fact: FactPath): string | undefined {
  const v = view[fact[0]]?.[fact[1]];
  return typeof v === "string" ? v : undefined;
}

/** The most selective constraint: equality on a fine-grained fact, then the longest affix. */
function pick(list: Constraint[]): Constraint | undefined {
  const score = (c: Constraint) => {
    if (c.kind === "eq") return COARSE_FACTS.has(c.fact) ? 1 : 1000 - c.values.length;
    return 10 + c.value.length;
  };
  let best: Constraint | undefined;
  for (const c of list) if (!best || score(c) > score(best)) best = c;
  return best;
}
