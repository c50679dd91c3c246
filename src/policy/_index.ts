/**
 * Per-endpoint rule index: each rule is filed under one necessary condition on a string fact
 * (`http.method == 'post'`, `http.path.startsWith('/repos/')`, `http.host.endsWith('.corp')`),
 * so a decision looks at the few rules that can match instead of all of them. Candidates are
 * returned in rule order, so "first match wins" is unchanged.
 *
 * @module
 */

import type { Constraint, FactsView } from "./_analyze.ts";

/** Facts whose values spread widely come first when picking a rule's index key. */
const COARSE_FACTS = new Set(["http.method", "http.scheme", "sql.verb", "k8s.verb"]);

interface AffixIndex {
  /** Distinct key lengths, so a lookup tries each length once. */
  lengths: number[];
  byKey: Map<string, number[]>;
}

/** Candidate rule positions for an action, in order. */
export class RuleIndex {
  readonly #size: number;
  readonly #always: number[] = [];
  readonly #eq = new Map<string, Map<string, number[]>>();
  readonly #prefix = new Map<string, AffixIndex>();
  readonly #suffix = new Map<string, AffixIndex>();
  readonly #facts: string[];

  /** `constraints[i]` are the index-able constraints of the rule at position `i`. */
  constructor(constraints: Constraint[][]) {
    this.#size = constraints.length;
    constraints.forEach((list, position) => {
      const key = pick(list);
      if (!key) {
        this.#always.push(position);
      } else if (key.kind === "eq") {
        const byValue = this.#eq.get(key.fact) ?? new Map<string, number[]>();
        for (const v of key.values) byValue.set(v, [...(byValue.get(v) ?? []), position]);
        this.#eq.set(key.fact, byValue);
      } else {
        const table = key.kind === "prefix" ? this.#prefix : this.#suffix;
        const affix: AffixIndex = table.get(key.fact) ?? { lengths: [], byKey: new Map() };
        affix.byKey.set(key.value, [...(affix.byKey.get(key.value) ?? []), position]);
        if (!affix.lengths.includes(key.value.length)) affix.lengths.push(key.value.length);
        table.set(key.fact, affix);
      }
    });
    this.#facts = [
      ...new Set([...this.#eq.keys(), ...this.#prefix.keys(), ...this.#suffix.keys()]),
    ];
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
    const found: number[] = [...this.#always];
    for (const [fact, byValue] of this.#eq) {
      const v = read(view, fact);
      if (v === undefined) return null;
      const hit = byValue.get(v);
      if (hit) found.push(...hit);
    }
    for (const [fact, affix] of this.#prefix) {
      const v = read(view, fact);
      if (v === undefined) return null;
      for (const len of affix.lengths) {
        if (len > v.length) continue;
        const hit = affix.byKey.get(v.slice(0, len));
        if (hit) found.push(...hit);
      }
    }
    for (const [fact, affix] of this.#suffix) {
      const v = read(view, fact);
      if (v === undefined) return null;
      for (const len of affix.lengths) {
        if (len > v.length) continue;
        const hit = affix.byKey.get(v.slice(v.length - len));
        if (hit) found.push(...hit);
      }
    }
    if (found.length === this.#size) return null;
    return found.sort((a, b) => a - b);
  }
}

function read(view: FactsView, fact: string): string | undefined {
  const dot = fact.indexOf(".");
  const v = view[fact.slice(0, dot)]?.[fact.slice(dot + 1)];
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
