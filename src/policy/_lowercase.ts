/**
 * Lowercases string literals that are compared with lowercase facts, so `http.method == 'POST'`
 * means what its author meant instead of silently never matching.
 *
 * Protocols lowercase some facts (HTTP method, scheme, host, header names; SQL verbs). A literal
 * compared with one of those is rewritten in the source text at compile time; the rule is then
 * parsed again, so evaluation pays nothing.
 *
 * @module
 */

import type { ASTNode } from "@marcbachmann/cel-js";

/** Facts whose values are always lowercase (fixtures' values are folded to match). */
export const LOWERCASE_VALUES: ReadonlySet<string> = new Set([
  "http.method",
  "http.effective_method",
  "http.canonical_path",
  "http.scheme",
  "http.host",
  "sql.verb",
  "k8s.verb",
]);
/** List facts whose elements are always lowercase. */
const LOWERCASE_LISTS = new Set(["sql.verbs", "http.path_anomalies"]);
/** Map facts whose keys are always lowercase. */
const LOWERCASE_KEYS = new Set(["http.headers"]);
const ITERATING_MACROS = new Set(["exists", "all", "exists_one", "existsOne", "filter", "map"]);
const STRING_TESTS = new Set(["startsWith", "endsWith", "contains"]);

/** Byte ranges of literals to lowercase in the condition source. */
interface Edit {
  start: number;
  end: number;
  value: string;
}

/** Returns `source` with literals compared against lowercase facts lowercased. */
export function lowercaseLiterals(source: string, ast: ASTNode): string {
  const edits: Edit[] = [];
  visit(ast, new Set(), edits);
  if (edits.length === 0) return source;
  edits.sort((a, b) => b.start - a.start);
  let out = source;
  let previous = -1;
  for (const e of edits) {
    // The same literal can be reached twice (compared with two lowercase facts): edit it once.
    if (e.start === previous) continue;
    previous = e.start;
    out = out.slice(0, e.start) + quote(e.value) + out.slice(e.end);
  }
  return out;
}

// deno-lint-ignore no-explicit-any
type Node = any;

function path(node: Node): string | null {
  if (node?.op === "id") return node.args;
  if (node?.op === ".") {
    const inner = path(node.args[0]);
    return inner === null ? null : `${inner}.${node.args[1]}`;
  }
  return null;
}

function isLowercaseValue(node: Node, scope: Set<string>): boolean {
  const p = path(node);
  if (p !== null && (LOWERCASE_VALUES.has(p) || scope.has(p))) return true;
  // Indexing a lowercase list: sql.verbs[0].
  return node?.op === "[]" && isLowercaseList(node.args[0]);
}

/** A list value whose elements are all lowercase: `sql.verbs`, or a filter over lowercase elements. */
function isLowercaseList(node: Node): boolean {
  const p = path(node);
  if (p !== null) return LOWERCASE_LISTS.has(p);
  return node?.op === "rcall" && node.args[0] === "filter" && hasLowercaseElements(node.args[1]);
}

/** What `in` and the macros iterate is lowercase: list elements, or a map's keys. */
function hasLowercaseElements(node: Node): boolean {
  return isLowercaseList(node) || LOWERCASE_KEYS.has(path(node) ?? "");
}

function lowerLiteral(node: Node, edits: Edit[]): void {
  if (
    node?.op === "value" && typeof node.args === "string" && node.args !== node.args.toLowerCase()
  ) {
    edits.push({ start: node.range.start, end: node.range.end, value: node.args.toLowerCase() });
  }
  if (node?.op === "list") { for (const item of node.args) lowerLiteral(item, edits); }
}

function visit(node: Node, scope: Set<string>, edits: Edit[]): void {
  if (node === null || typeof node !== "object" || !("op" in node)) return;
  switch (node.op) {
    case "==":
    case "!=": {
      // fact == 'A' / sql.verbs == ['A', 'B']
      const [l, r] = node.args;
      if (isLowercaseValue(l, scope) || isLowercaseList(l)) lowerLiteral(r, edits);
      if (isLowercaseValue(r, scope) || isLowercaseList(r)) lowerLiteral(l, edits);
      break;
    }
    case "in": {
      const [l, r] = node.args;
      // fact in ['A', 'B'] / 'A' in sql.verbs / 'X-Foo' in http.headers
      if (isLowercaseValue(l, scope)) lowerLiteral(r, edits);
      if (hasLowercaseElements(r)) lowerLiteral(l, edits);
      break;
    }
    case "[]": {
      const [target, index] = node.args;
      if (LOWERCASE_KEYS.has(path(target) ?? "")) lowerLiteral(index, edits);
      break;
    }
    case "rcall": {
      const [name, receiver, args] = node.args as [string, Node, Node[]];
      if (STRING_TESTS.has(name) && isLowercaseValue(receiver, scope)) {
        for (const a of args) lowerLiteral(a, edits);
      }
      if (path(receiver) === "sets" && args.length === 2) {
        if (isLowercaseList(args[0])) lowerLiteral(args[1], edits);
        if (isLowercaseList(args[1])) lowerLiteral(args[0], edits);
      }
      // sql.verbs.exists(v, …) / http.headers.exists(k, …): the variable is lowercase.
      if (ITERATING_MACROS.has(name) && hasLowercaseElements(receiver) && args[0]?.op === "id") {
        const inner = new Set(scope).add(args[0].args);
        visit(receiver, scope, edits);
        for (const a of args.slice(1)) visit(a, inner, edits);
        return;
      }
      if (ITERATING_MACROS.has(name) && args[0]?.op === "id" && scope.has(args[0].args)) {
        // A macro re-binding a name shadows the lowercase variable.
        const inner = new Set(scope);
        inner.delete(args[0].args);
        visit(receiver, scope, edits);
        for (const a of args.slice(1)) visit(a, inner, edits);
        return;
      }
      break;
    }
  }
  for (const child of children(node)) visit(child, scope, edits);
}

function children(node: Node): Node[] {
  const out: Node[] = [];
  const collect = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (v !== null && typeof v === "object" && "op" in (v as object)) out.push(v);
  };
  if (node.op !== "value" && node.op !== "id") collect(node.args);
  return out;
}

/** A CEL double-quoted string literal for `value`. */
function quote(value: string): string {
  // JSON escapes (\", \\, \n, \uXXXX) are all valid CEL escapes.
  return JSON.stringify(value);
}
