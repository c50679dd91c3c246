/**
 * Static analysis of a compiled condition: which facts it reads (so a rule reading an unknown
 * fact denies) and which cheap guards it implies (so most rules are skipped without running CEL).
 *
 * @module
 */

import type { ASTNode } from "@marcbachmann/cel-js";
import type { FactSchema } from "./_facts.ts";
import { literalPrefix } from "./_regex.ts";
import { factReader } from "./_fact_reader.ts";

// deno-lint-ignore no-explicit-any
type Node = any;

/**
 * Facts a condition reads, as `family.field`, or `family.*` when the whole family object is used
 * (passed to a function, indexed dynamically). `schema` names the fact variables.
 */
export function factReads(ast: ASTNode, schema: FactSchema): Set<string> {
  const reads = new Set<string>();
  const walk = (node: Node, parentUsesField: boolean) => {
    if (node === null || typeof node !== "object" || !("op" in node)) return;
    if (node.op === "id") {
      if (schema.has(node.args) && !parentUsesField) reads.add(`${node.args}.*`);
      return;
    }
    if (node.op === "." || node.op === ".?") {
      const [target, field] = node.args;
      if (target?.op === "id" && schema.has(target.args)) {
        reads.add(`${target.args}.${field}`);
        return;
      }
      walk(target, false);
      return;
    }
    if (node.op === "[]" || node.op === "[?]") {
      const [target, index] = node.args;
      if (
        target?.op === "id" && schema.has(target.args) && index?.op === "value" &&
        typeof index.args === "string"
      ) {
        reads.add(`${target.args}.${index.args}`);
        return;
      }
    }
    if (node.op === "value") return;
    const visitAll = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(visitAll);
      else if (v !== null && typeof v === "object" && "op" in (v as object)) walk(v, false);
    };
    visitAll(node.args);
  };
  walk(ast, false);
  return reads;
}

/**
 * Facts derived from another: when the source is unknown, so are they. `body_json` and
 * `graphql` are parsed from `body`; a truncated body may parse as (different) JSON or not at all.
 */
const DERIVED: Record<string, string[]> = { "http.body": ["http.body_json", "http.graphql"] };

/** Whether a rule reading `reads` depends on any of the action's `unknown` facts. */
export function readsUnknown(reads: Set<string>, unknown: readonly string[]): string | null {
  for (const u of unknown) {
    for (const fact of [u, ...(DERIVED[u] ?? [])]) {
      const [family, field] = fact.split(".", 2);
      for (const r of reads) {
        const [rf, rfield] = r.split(".", 2);
        if (rf !== family) continue;
        if (field === "*" || rfield === "*" || rfield === field) return u;
      }
    }
  }
  return null;
}

/**
 * A guard: a plain-JS test implied by one of the condition's top-level `&&` terms. When a guard
 * is false the condition is false (CEL's `false && x` is false even if `x` errors), so skipping
 * the rule is exact. A guard returns `true` whenever it cannot decide (fact missing, not a
 * string), leaving the verdict to CEL: guards may only skip, never match.
 */
export interface Guard {
  /** The facts the guard reads, `family.field`. */
  facts: string[];
  test: (ctx: FactsView) => boolean;
}

/** Raw facts by CEL variable name. */
export type FactsView = Record<string, Record<string, unknown> | undefined>;

/** Extracts guards from the condition's top-level conjunction. */
export function extractGuards(ast: ASTNode, schema: FactSchema): Guard[] {
  const guards: Guard[] = [];
  const conjuncts = topLevelConjuncts(ast);
  for (const term of conjuncts) {
    const guard = guardFor(term, schema);
    if (guard) guards.push(guard);
  }
  return guards;
}

function stringFact(node: Node, schema: FactSchema): [string, string] | null {
  if (node?.op !== ".") return null;
  const [target, field] = node.args;
  if (target?.op !== "id") return null;
  const fields = schema.get(target.args);
  return fields && Object.hasOwn(fields, field) && fields[field] === "string"
    ? [target.args, field]
    : null;
}

function stringLiteral(node: Node): string | null {
  return node?.op === "value" && typeof node.args === "string" ? node.args : null;
}

/** A string fact's value, or `undefined` when it is absent or another kind. */
function stringOf(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function guardFor(term: Node, schema: FactSchema): Guard | null {
  if (term?.op === "&&") {
    // Inside a disjunction: any guarded conjunct may veto its branch.
    const parts = term.args.map((t: Node) => guardFor(t, schema))
      .filter((g: Guard | null) => g !== null) as Guard[];
    if (parts.length === 0) return null;
    return {
      facts: parts.flatMap((g) => g.facts),
      test: (ctx) => parts.every((g) => g.test(ctx)),
    };
  }
  if (term?.op === "||") {
    // A disjunction can only be skipped when every branch can.
    const l = guardFor(term.args[0], schema);
    const r = guardFor(term.args[1], schema);
    if (!l || !r) return null;
    return { facts: [...l.facts, ...r.facts], test: (ctx) => l.test(ctx) || r.test(ctx) };
  }
  const test = guardTest(term, schema);
  return test ? { facts: [test[0].join(".")], test: test[1] } : null;
}

/**
 * Values a string fact must take for the condition to hold, from top-level `F == 'x'` and
 * `F in ['x', 'y']` terms. Used to index rules by, say, HTTP method.
 */
export function requiredValues(ast: ASTNode, schema: FactSchema): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const conjuncts = topLevelConjuncts(ast);
  for (const term of conjuncts) {
    let fact: [string, string] | null = null;
    let values: (string | null)[] = [];
    if (term?.op === "==") {
      fact = stringFact(term.args[0], schema) ?? stringFact(term.args[1], schema);
      values = [stringLiteral(term.args[1]) ?? stringLiteral(term.args[0])];
    } else if (term?.op === "in" && term.args[1]?.op === "list") {
      fact = stringFact(term.args[0], schema);
      values = (term.args[1].args as Node[]).map(stringLiteral);
    }
    if (!fact || values.some((v) => v === null)) continue;
    const key = fact.join(".");
    const set = new Set(values as string[]);
    const prev = out.get(key);
    // Two terms on the same fact: both must hold.
    out.set(key, prev ? new Set([...prev].filter((v) => set.has(v))) : set);
  }
  return out;
}

function guardTest(
  term: Node,
  schema: FactSchema,
): [[string, string], (ctx: FactsView) => boolean] | null {
  const member = membership(term, schema);
  if (member) {
    const [fact, item] = member;
    const read = factReader(fact[0], fact[1]);
    return [fact, (ctx) => mayHold(read(ctx), item)];
  }
  if (term?.op === "==") {
    const [l, r] = term.args;
    const fact = stringFact(l, schema) ?? stringFact(r, schema);
    const lit = stringLiteral(r) ?? stringLiteral(l);
    if (!fact || lit === null) return null;
    const read = factReader(fact[0], fact[1]);
    return [fact, (ctx) => {
      const v = stringOf(read(ctx));
      return v === undefined || v === lit;
    }];
  }
  if (term?.op === "in") {
    const [l, r] = term.args;
    const fact = stringFact(l, schema);
    if (!fact || r?.op !== "list") return null;
    const items = (r.args as Node[]).map(stringLiteral);
    if (items.some((x) => x === null)) return null;
    const set = new Set(items as string[]);
    const read = factReader(fact[0], fact[1]);
    return [fact, (ctx) => {
      const v = stringOf(read(ctx));
      return v === undefined || set.has(v);
    }];
  }
  if (term?.op === "rcall") {
    const [name, receiver, args] = term.args as [string, Node, Node[]];
    const fact = stringFact(receiver, schema);
    const lit = args.length === 1 ? stringLiteral(args[0]) : null;
    if (!fact || lit === null) return null;
    const read = factReader(fact[0], fact[1]);
    if (name === "startsWith") return [fact, (ctx) => stringOf(read(ctx))?.startsWith(lit) ?? true];
    if (name === "endsWith") return [fact, (ctx) => stringOf(read(ctx))?.endsWith(lit) ?? true];
    if (name === "contains") return [fact, (ctx) => stringOf(read(ctx))?.includes(lit) ?? true];
    if (name === "matches" || name === "re_match") {
      const prefix = literalPrefix(lit);
      if (prefix) return [fact, (ctx) => stringOf(read(ctx))?.startsWith(prefix) ?? true];
    }
  }
  return null;
}

/** A fact holding a map with string keys or a list of strings, as `[variable, field]`. */
function collectionFact(node: Node, schema: FactSchema): [string, string] | null {
  if (node?.op !== ".") return null;
  const [target, field] = node.args;
  if (target?.op !== "id") return null;
  const fields = schema.get(target.args);
  const type = fields && Object.hasOwn(fields, field) ? fields[field] : "";
  return type.startsWith("map<string,") || type === "list<string>" ? [target.args, field] : null;
}

/**
 * `'x' in F` and `F.exists(v, v == 'x')` (either side of the `==`) on a map or list fact: the
 * condition needs F to hold the key or item `x`. The common way to ask for a header or query
 * parameter, and rules written so sit in a disjunction that is otherwise guarded.
 */
function membership(term: Node, schema: FactSchema): [[string, string], string] | null {
  if (term?.op === "in") {
    const item = stringLiteral(term.args[0]);
    const fact = collectionFact(term.args[1], schema);
    return item !== null && fact ? [fact, item] : null;
  }
  if (term?.op !== "rcall" || term.args[0] !== "exists") return null;
  const [, receiver, args] = term.args as [string, Node, Node[]];
  const fact = collectionFact(receiver, schema);
  if (!fact || args.length !== 2 || args[0]?.op !== "id" || args[1]?.op !== "==") return null;
  const variable = args[0].args;
  const [l, r] = args[1].args;
  const item = l?.op === "id" && l.args === variable
    ? stringLiteral(r)
    : r?.op === "id" && r.args === variable
    ? stringLiteral(l)
    : null;
  return item !== null ? [fact, item] : null;
}

/**
 * Whether `value` may hold `item` as CEL reads it: false only when that is certain. A plain
 * object's keys are all a CEL map's keys (`in` also needs the value defined, so an own key
 * answers true and CEL decides). A list answers false only when every element is a string, as
 * comparing another type with a string could fail the rule instead.
 */
function mayHold(value: unknown, item: string): boolean {
  if (Array.isArray(value)) {
    let strings = true;
    for (const element of value) {
      if (element === item) return true;
      if (typeof element !== "string") strings = false;
    }
    return !strings;
  }
  return !plainObject(value) || Object.hasOwn(value, item);
}

/** A map as CEL reads it from facts for sure: an object literal (or one without a prototype). */
export function plainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A necessary condition, usable as an index key: on one string fact (`eq`, `prefix`, `suffix`),
 * that a map or list fact holds a key or item (`member`), or that one of a disjunction's branches
 * holds (`any`: each branch's own necessary conditions, from which the index picks one a branch,
 * and every fact the disjunction reads: with one unknown, the disjunction is decided by CEL).
 */
export type Constraint =
  | { kind: "eq"; fact: string; values: string[] }
  | { kind: "prefix" | "suffix"; fact: string; value: string }
  | { kind: "member"; fact: string; value: string }
  | { kind: "any"; branches: Constraint[][]; reads: string[] };

/** Index-able constraints from the condition's top-level conjunction. */
export function indexConstraints(ast: ASTNode, schema: FactSchema): Constraint[] {
  const out: Constraint[] = [];
  for (const [fact, values] of requiredValues(ast, schema)) {
    out.push({ kind: "eq", fact, values: [...values] });
  }
  for (const term of topLevelConjuncts(ast)) {
    const member = membership(term, schema);
    if (member) out.push({ kind: "member", fact: member[0].join("."), value: member[1] });
    if (term?.op === "||") {
      const branches = topLevelDisjuncts(term).map((b) => indexConstraints(b, schema));
      // A branch that needs nothing index-able can hold for any action: no key for the whole.
      if (branches.every((b) => b.length > 0)) {
        out.push({ kind: "any", branches, reads: [...factReads(term, schema)] });
      }
    }
    if (term?.op !== "rcall") continue;
    const [name, receiver, args] = term.args as [string, Node, Node[]];
    const fact = stringFact(receiver, schema);
    const lit = args.length === 1 ? stringLiteral(args[0]) : null;
    if (!fact || lit === null) continue;
    const key = fact.join(".");
    if (name === "startsWith") out.push({ kind: "prefix", fact: key, value: lit });
    else if (name === "endsWith") out.push({ kind: "suffix", fact: key, value: lit });
    else if (name === "matches" || name === "re_match") {
      const prefix = literalPrefix(lit);
      if (prefix) out.push({ kind: "prefix", fact: key, value: prefix });
    }
  }
  return out;
}

/** The terms of a condition's top-level `&&` chain (the whole condition when there is none). */
function topLevelConjuncts(ast: Node): Node[] {
  return chain(ast, "&&");
}

/** The branches of a `||` chain, nested ones flattened. */
function topLevelDisjuncts(ast: Node): Node[] {
  return chain(ast, "||");
}

/** The operands of a chain of `op`, nested ones flattened, in order. */
function chain(ast: Node, op: "&&" | "||"): Node[] {
  const out: Node[] = [];
  const split = (node: Node) => {
    if (node?.op === op) node.args.forEach(split);
    else out.push(node);
  };
  split(ast);
  return out;
}
