/**
 * Per-endpoint rule index: each rule is filed under one necessary condition on a string fact
 * (`http.method == 'post'`, `http.path.startsWith('/repos/')`, `http.host.endsWith('.corp')`)
 * or on a map or list fact holding a key (`'force' in http.query`), or under one such condition
 * per branch of a disjunction, so a decision looks at the few rules that can match instead of
 * all of them. Candidates are returned in rule order, so "first match wins" is unchanged.
 *
 * @module
 */

import { type Constraint, type FactsView, plainObject } from "./_analyze.ts";
import { AffixTree } from "./_affix_tree.ts";
import { type FactReader, factReader } from "./_fact_reader.ts";

/** A constraint the index files a rule under directly: one lookup each. */
type Key = Exclude<Constraint, { kind: "any" }>;

/** Facts whose values spread widely come first when picking a rule's index key. */
const COARSE_FACTS = new Set(["http.method", "http.scheme", "sql.verb", "k8s.verb"]);

interface EqIndex {
  fact: FactReader;
  byValue: Map<string, number[]>;
}

interface AffixIndex {
  fact: FactReader;
  tree: AffixTree;
}

/** Rules filed by a key or item their map or list fact must hold. */
interface MemberIndex {
  fact: FactReader;
  byItem: Map<string, number[]>;
}

/** Candidate rule positions for an action, in order. */
export class RuleIndex {
  readonly #size: number;
  readonly #always: number[] = [];
  readonly #eq: EqIndex[] = [];
  readonly #affix: AffixIndex[] = [];
  readonly #member: MemberIndex[] = [];
  readonly #facts: string[];
  /**
   * Some rule is filed under several keys (a disjunction's), or a list fact is looked up item by
   * item (an item may repeat): candidates are deduplicated.
   */
  #repeats = false;

  /** `constraints[i]` are the index-able constraints of the rule at position `i`. */
  constructor(constraints: Constraint[][]) {
    this.#size = constraints.length;
    const eq = new Map<string, Map<string, number[]>>();
    const affix = { prefix: new Map<string, AffixTree>(), suffix: new Map<string, AffixTree>() };
    const member = new Map<string, Map<string, number[]>>();
    const fileUnder = (byValue: Map<string, number[]>, value: string, position: number) => {
      const list = byValue.get(value);
      if (list === undefined) byValue.set(value, [position]);
      else if (list[list.length - 1] !== position) list.push(position);
    };
    // Facts whose unknown value makes the index unusable: every key's, and all a disjunction
    // filed by its branches reads (skipping it would skip the deny an unknown fact in it owes).
    const reads = new Set<string>();
    constraints.forEach((list, position) => {
      const picked = pick(list);
      if (!picked) {
        this.#always.push(position);
        return;
      }
      const keys = picked.keys;
      for (const fact of picked.reads) reads.add(fact);
      if (keys.length > 1) this.#repeats = true;
      for (const key of keys) {
        if (key.kind === "prefix" || key.kind === "suffix") {
          const trees = affix[key.kind];
          const tree = trees.get(key.fact) ?? new AffixTree(key.kind);
          tree.add(key.value, position);
          trees.set(key.fact, tree);
          continue;
        }
        const maps = key.kind === "eq" ? eq : member;
        const byValue = maps.get(key.fact) ?? new Map<string, number[]>();
        for (const v of key.kind === "eq" ? key.values : [key.value]) {
          fileUnder(byValue, v, position);
        }
        maps.set(key.fact, byValue);
      }
    });
    for (const [fact, byValue] of eq) this.#eq.push({ fact: readerOf(fact), byValue });
    for (const trees of [affix.prefix, affix.suffix]) {
      for (const [fact, tree] of trees) this.#affix.push({ fact: readerOf(fact), tree });
    }
    for (const [fact, byItem] of member) this.#member.push({ fact: readerOf(fact), byItem });
    if (member.size > 0) this.#repeats = true;
    this.#facts = [...reads];
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
      const v = fact(view);
      if (typeof v !== "string") return null;
      const hit = byValue.get(v);
      if (hit) { for (const p of hit) found.push(p); }
    }
    for (const { fact, tree } of this.#affix) {
      const v = fact(view);
      if (typeof v !== "string") return null;
      tree.collect(v, found);
    }
    for (const { fact, byItem } of this.#member) {
      if (!collectMembers(fact(view), byItem, found)) return null;
    }
    if (found.length > 1) found.sort((a, b) => a - b);
    if (this.#repeats) dedupe(found);
    return found.length === this.#size ? null : found;
  }
}

/**
 * Appends the rules filed under each key of a map, or each item of a list of strings. False
 * when the fact is anything else (missing, another kind, a list holding a non-string): its
 * rules cannot be ruled out, as CEL may fail on them instead.
 */
function collectMembers(value: unknown, byItem: Map<string, number[]>, out: number[]): boolean {
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item !== "string") return false;
      const hit = byItem.get(item);
      if (hit) { for (const p of hit) out.push(p); }
    }
    return true;
  }
  if (!plainObject(value)) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const hit = byItem.get(key);
    if (hit) { for (const p of hit) out.push(p); }
  }
  return true;
}

/** Drops repeats from a sorted list, in place. */
function dedupe(sorted: number[]): void {
  let kept = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (kept === 0 || sorted[i] !== sorted[kept - 1]) sorted[kept++] = sorted[i];
  }
  sorted.length = kept;
}

/** The reader of a dotted fact name: `http.method`. */
function readerOf(fact: string): FactReader {
  const dot = fact.indexOf(".");
  return factReader(fact.slice(0, dot), fact.slice(dot + 1));
}

/**
 * The keys to file a rule under: its most selective constraint (equality on a fine-grained fact,
 * then the longest affix, then membership), or failing one, a key per branch of a disjunction.
 */
function pick(list: Constraint[]): { keys: Key[]; reads: string[] } | undefined {
  let best: { keys: Key[]; reads: string[] } | undefined;
  let bestScore = -Infinity;
  for (const c of list) {
    const keys = c.kind === "any" ? branchKeys(c.branches) : [c];
    if (!keys) continue;
    // A rule filed under several keys is looked up several times: it ranks below its best key.
    const s = keys.length === 1 ? score(keys[0]) : Math.min(...keys.map(score)) / (keys.length + 1);
    if (s > bestScore) {
      best = { keys, reads: c.kind === "any" ? c.reads : [c.fact] };
      bestScore = s;
    }
  }
  return best;
}

/** One key per branch (a branch's own best, flattened), or none when a branch has none. */
function branchKeys(branches: Constraint[][]): Key[] | undefined {
  const keys: Key[] = [];
  for (const branch of branches) {
    const picked = pick(branch);
    if (!picked) return undefined;
    keys.push(...picked.keys);
  }
  return keys;
}

function score(c: Key): number {
  if (c.kind === "eq") return COARSE_FACTS.has(c.fact) ? 1 : 1000 - c.values.length;
  // Membership is looked up once per key or item the action's map or list holds.
  if (c.kind === "member") return 5;
  return 10 + c.value.length;
}
