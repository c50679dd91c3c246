/**
 * `matches()` support: patterns written as literals are compiled once at load (a bad pattern is a
 * load error, not a deny at 3 a.m.) and cached, and an anchored pattern's literal prefix becomes
 * a cheap guard.
 *
 * cel-js builds a new RegExp on every `matches()` call; with thousands of rules that defeats
 * V8's regexp cache. Literal-pattern calls are therefore rewritten to `re_match`, which reads a
 * cache filled at load. Patterns use ECMAScript syntax (CEL specifies RE2; the common subset
 * behaves the same).
 *
 * @module
 */

import type { ASTNode } from "@marcbachmann/cel-js";

const cache = new Map<string, RegExp>();

/** Compiles (once) a pattern; throws SyntaxError when invalid. */
export function compiledPattern(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp(pattern);
    cache.set(pattern, re);
  }
  return re;
}

// deno-lint-ignore no-explicit-any
type Node = any;

/**
 * Rewrites `x.matches('literal')` to `x.re_match('literal')` and validates each pattern.
 * Returns the new source, or an error message for the first invalid pattern.
 */
export function rewriteMatches(
  source: string,
  ast: ASTNode,
): { source: string } | { error: string } {
  const edits: { start: number; end: number }[] = [];
  let error: string | undefined;
  const walk = (node: Node) => {
    if (node === null || typeof node !== "object" || !("op" in node)) return;
    if (node.op === "rcall" && node.args[0] === "matches" && node.args[2].length === 1) {
      const arg = node.args[2][0];
      if (arg.op === "value" && typeof arg.args === "string") {
        try {
          compiledPattern(arg.args);
          edits.push({ start: node.args[1].range.end, end: arg.range.start });
        } catch (err) {
          error ??= `invalid pattern ${JSON.stringify(arg.args)}: ${(err as Error).message}`;
        }
      }
    }
    const visit = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (v !== null && typeof v === "object" && "op" in (v as object)) walk(v);
    };
    if (node.op !== "value" && node.op !== "id") visit(node.args);
  };
  walk(ast);
  if (error) return { error };
  let out = source;
  for (const e of edits.sort((a, b) => b.start - a.start)) {
    const between = out.slice(e.start, e.end);
    out = out.slice(0, e.start) + between.replace(/matches/, "re_match") + out.slice(e.end);
  }
  return { source: out };
}

/**
 * The literal text every match of an anchored pattern starts with, or "" when there is none.
 * Conservative: any alternation, group or class ends the prefix, and a character followed by an
 * optional quantifier is dropped.
 */
export function literalPrefix(pattern: string): string {
  if (!pattern.startsWith("^") || pattern.includes("|")) return "";
  let prefix = "";
  for (let i = 1; i < pattern.length; i++) {
    let c = pattern[i];
    if ("^$.*+?()[]{}|".includes(c)) break;
    if (c === "\\") {
      const next = pattern[i + 1];
      // Only escaped punctuation is a literal; \d, \w, \b… are classes or assertions.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) break;
      c = next;
      i++;
    }
    const after = pattern[i + 1];
    if (after === "?" || after === "*" || after === "{") break;
    prefix += c;
  }
  return prefix;
}
