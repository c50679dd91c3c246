/**
 * Conditions plain JS can decide without CEL: string and boolean facts compared with literals,
 * list membership, string tests, `exists`/`all` over a list of strings or a map's keys, joined
 * by `&&`, `||` and `!`. Most shipped and bench rules are of this shape, and evaluating them
 * this way skips wrapping the facts as CEL types and the evaluator's walk (~1 µs a decision in
 * the gateway: `Policy.evaluate` 1.6 → 0.5 µs per Postgres statement, 2.3 → 1.2 per HTTPS GET).
 *
 * An exact evaluator answers `true` or `false` only when CEL is sure to give the same answer,
 * and `undefined` whenever it cannot be sure (a fact missing, of another type, a list holding a
 * non-string): the rule then goes to CEL, which decides or fails as it always did.
 *
 * @module
 */

import type { ASTNode } from "@marcbachmann/cel-js";
import type { Protocol } from "../core/mod.ts";
import { type FactsView, plainObject } from "./_analyze.ts";
import { facetsOf, type FactSchema } from "./_facts.ts";
import { compiledPattern } from "./_regex.ts";

// deno-lint-ignore no-explicit-any
type Node = any;

/** `true`/`false` when certain, `undefined` when only CEL can say. */
export type Exact = (view: FactsView) => boolean | undefined;

/** A compiled sub-condition; `item` is the value a comprehension's variable is bound to. */
type Test = (view: FactsView, item: string) => boolean | undefined;
/** A compiled operand: its value, or `undefined` when a fact is absent. */
type Operand = (view: FactsView, item: string) => unknown;

const enumerable = Object.prototype.propertyIsEnumerable;

/**
 * The exact evaluator of a condition of `protocol`'s rules, or `null` when any part of it is
 * outside the subset. It reads facts as CEL's context does: a facet's own enumerable fields (what
 * `Object.assign` copies into the registered type), each of the kind its facet declares (CEL
 * fails a rule reading a field of another kind), so anything else is left to CEL.
 */
export function exactEvaluator(ast: ASTNode, protocol: Protocol): Exact | null {
  const test = compileTest(ast, declaredFields(protocol), null);
  return test ? (view) => test(view, "") : null;
}

const schemas = new WeakMap<Protocol, FactSchema>();

/** The fields the rule's own protocol declares: a variable may differ between protocols. */
function declaredFields(protocol: Protocol): FactSchema {
  let schema = schemas.get(protocol);
  if (!schema) {
    schema = new Map(facetsOf(protocol).map((facet) => [facet.variable, facet.fields]));
    schemas.set(protocol, schema);
  }
  return schema;
}

function compileTest(node: Node, schema: FactSchema, variable: string | null): Test | null {
  switch (node?.op) {
    case "value":
      return typeof node.args === "boolean" ? constant(node.args) : null;
    case "&&":
    case "||": {
      const l = compileTest(node.args[0], schema, variable);
      const r = compileTest(node.args[1], schema, variable);
      if (!l || !r) return null;
      // CEL's logical operators absorb an error or unknown on one side when the other side
      // decides (`false && x` is false, `true || x` is true), whichever side it is on.
      return node.op === "&&"
        ? (view, item) => {
          const a = l(view, item);
          if (a === false) return false;
          const b = r(view, item);
          return b === false ? false : a === true && b === true ? true : undefined;
        }
        : (view, item) => {
          const a = l(view, item);
          if (a === true) return true;
          const b = r(view, item);
          return b === true ? true : a === false && b === false ? false : undefined;
        };
    }
    case "!_": {
      const inner = compileTest(node.args, schema, variable);
      if (!inner) return null;
      return (view, item) => {
        const v = inner(view, item);
        return v === undefined ? undefined : !v;
      };
    }
    case "==":
    case "!=":
      return equality(node, schema, variable);
    case "in":
      return membership(node, schema, variable);
    case "rcall":
      return node.args[0] === "exists" || node.args[0] === "all"
        ? quantifier(node, schema, variable)
        : stringTest(node, schema, variable);
    case "id":
    case ".": {
      // A boolean fact on its own (`sql.dynamic`).
      const operand = compileOperand(node, schema, variable);
      if (!operand) return null;
      return (view, item) => {
        const v = operand(view, item);
        return typeof v === "boolean" ? v : undefined;
      };
    }
    default:
      return null;
  }
}

function constant(value: boolean): Test {
  return () => value;
}

/** A string literal, the comprehension's variable, or `facet.field` of a declared facet. */
function compileOperand(node: Node, schema: FactSchema, variable: string | null): Operand | null {
  if (node?.op === "value") {
    const value = node.args;
    return typeof value === "string" || typeof value === "boolean" ? () => value : null;
  }
  if (node?.op === "id") {
    return variable !== null && node.args === variable ? (_, item) => item : null;
  }
  if (node?.op !== ".") return null;
  const [target, field] = node.args;
  if (target?.op !== "id" || target.args === variable) return null;
  const fields = schema.get(target.args);
  const kind = fields && Object.hasOwn(fields, field) ? kindOf(fields[field]) : null;
  if (!kind) return null;
  const facet: string = target.args;
  return (view) => {
    const facts = view[facet];
    if (facts === null || typeof facts !== "object" || !enumerable.call(facts, field)) {
      return undefined;
    }
    const value = facts[field];
    return kind(value) ? value : undefined;
  };
}

/** How a value of a declared fact type is recognised; `null` for types left to CEL. */
function kindOf(type: string): ((value: unknown) => boolean) | null {
  if (type === "string") return (v) => typeof v === "string";
  if (type === "bool") return (v) => typeof v === "boolean";
  // Element types are checked where elements are read (a list holding another type is undecided).
  if (type === "list<string>") return Array.isArray;
  if (type.startsWith("map<string,")) return plainObject;
  return null;
}

/** `a == b` / `a != b` over two strings or two booleans; anything else is CEL's to judge. */
function equality(node: Node, schema: FactSchema, variable: string | null): Test | null {
  const l = compileOperand(node.args[0], schema, variable);
  const r = compileOperand(node.args[1], schema, variable);
  if (!l || !r) return null;
  const negate = node.op === "!=";
  return (view, item) => {
    const a = l(view, item);
    const b = r(view, item);
    const comparable = (typeof a === "string" && typeof b === "string") ||
      (typeof a === "boolean" && typeof b === "boolean");
    return comparable ? (a === b) !== negate : undefined;
  };
}

/** `s in ['a', 'b']`, or `'x' in F` for a list or map fact F. */
function membership(node: Node, schema: FactSchema, variable: string | null): Test | null {
  const [left, right] = node.args;
  const needle = compileOperand(left, schema, variable);
  if (!needle) return null;
  if (right?.op === "list") {
    const items = (right.args as Node[]).map((n) => n?.op === "value" ? n.args : null);
    if (!items.every((x) => typeof x === "string")) return null;
    const set = new Set(items as string[]);
    return (view, item) => {
      const v = needle(view, item);
      return typeof v === "string" ? set.has(v) : undefined;
    };
  }
  const haystack = compileOperand(right, schema, variable);
  if (!haystack) return null;
  return (view, item) => {
    const v = needle(view, item);
    const collection = haystack(view, item);
    if (typeof v !== "string") return undefined;
    if (Array.isArray(collection)) {
      return allStrings(collection) ? collection.includes(v) : undefined;
    }
    if (!plainObject(collection)) return undefined;
    // CEL's map membership: an own key whose value is defined (cel-js `mapIncludes`).
    return Object.hasOwn(collection, v) && collection[v] !== undefined;
  };
}

/** `s.startsWith('x')`, `endsWith`, `contains`, and `re_match` (a literal `matches`). */
function stringTest(node: Node, schema: FactSchema, variable: string | null): Test | null {
  const [name, receiver, args] = node.args as [string, Node, Node[]];
  const subject = compileOperand(receiver, schema, variable);
  const arg = args.length === 1 && args[0]?.op === "value" ? args[0].args : null;
  if (!subject || typeof arg !== "string") return null;
  let check: (s: string) => boolean;
  if (name === "startsWith") check = (s) => s.startsWith(arg);
  else if (name === "endsWith") check = (s) => s.endsWith(arg);
  else if (name === "contains") check = (s) => s.includes(arg);
  else if (name === "re_match") {
    // The same cached RegExp the CEL function `re_match` runs (policy/_facts.ts).
    const pattern = compiledPattern(arg);
    check = (s) => pattern.test(s);
  } else return null;
  return (view, item) => {
    const v = subject(view, item);
    return typeof v === "string" ? check(v) : undefined;
  };
}

/**
 * `F.exists(v, p)` / `F.all(v, p)` over a list of strings or a plain object's keys. Decided only
 * when `p` is decided for every element: CEL's quantifiers absorb an element's error in ways
 * this evaluator does not model, so one undecided element leaves the whole to CEL.
 */
function quantifier(node: Node, schema: FactSchema, variable: string | null): Test | null {
  const [name, receiver, args] = node.args as [string, Node, Node[]];
  if (args.length !== 2 || args[0]?.op !== "id") return null;
  // An inner quantifier's predicate sees only its own variable: one reading the outer one is
  // left to CEL (an operand naming another identifier does not compile).
  const collection = compileOperand(receiver, schema, variable);
  const predicate = compileTest(args[1], schema, args[0].args);
  if (!collection || !predicate) return null;
  const wanted = name === "exists";
  return (view, item) => {
    const value = collection(view, item);
    let elements: readonly unknown[];
    if (Array.isArray(value)) elements = value;
    else if (plainObject(value)) elements = Object.keys(value);
    else return undefined;
    if (!allStrings(elements)) return undefined;
    let found = false;
    for (const element of elements as readonly string[]) {
      const v = predicate(view, element);
      if (v === undefined) return undefined;
      if (v === wanted) found = true;
    }
    return found === wanted;
  };
}

function allStrings(list: readonly unknown[]): boolean {
  for (const x of list) if (typeof x !== "string") return false;
  return true;
}
