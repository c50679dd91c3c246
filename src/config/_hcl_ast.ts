/**
 * The HCL syntax tree, as far as the conversion to hcl2json's JSON looks into it: the node kinds
 * it converts differently, and every other expression as `other`, kept as its source range.
 *
 * @module
 */

import type { Range } from "./_hcl_token.ts";

export type Expr =
  /** A number literal, kept as written: hcl2json prints it from a 512-bit float. */
  | { kind: "number"; text: string; range: Range }
  /** true, false, null, a template's literal text; `undefined` stands in after a syntax error. */
  | { kind: "literal"; value: boolean | null | string | undefined; range: Range }
  | { kind: "template"; parts: Expr[]; range: Range }
  /** A template that is a single `${…}`: converted as the expression inside. */
  | { kind: "wrap"; wrapped: Expr; range: Range }
  | { kind: "tuple"; exprs: Expr[]; range: Range }
  | { kind: "object"; items: { key: Expr; value: Expr }[]; range: Range }
  | { kind: "unary"; op: "-" | "!"; operand: Expr; range: Range }
  | { kind: "conditional"; cond: Expr; yes: Expr; no: Expr; range: Range }
  /** A template's `%{for}` directive. */
  | { kind: "join"; keyVar: string; valVar: string; coll: Expr; body: Expr; range: Range }
  /** A name and the attribute or constant index steps after it (`https.github`, `a[0]`). */
  | { kind: "scope"; range: Range }
  | { kind: "relative"; range: Range }
  | { kind: "other"; range: Range };

export interface Attribute {
  name: string;
  expr: Expr;
  nameRange: Range;
}

export interface Block {
  type: string;
  labels: string[];
  body: Body;
}

export interface Body {
  /** In source order; hcl2json sorts them anyway. */
  attributes: Map<string, Attribute>;
  blocks: Block[];
}

/** A range's text as hcl prints it: `file:line,col-col` or `file:line,col-line,col`. */
export function rangeString(file: string, r: Range): string {
  const { start, end } = r;
  return start.line === end.line
    ? `${file}:${start.line},${start.col}-${end.col}`
    : `${file}:${start.line},${start.col}-${end.line},${end.col}`;
}

/** Go's `%q`: a double-quoted string with Go's escapes. */
export function goQuote(s: string): string {
  let out = '"';
  for (const c of s) {
    const code = c.codePointAt(0)!;
    if (c === '"' || c === "\\") out += "\\" + c;
    else if (c in GO_ESCAPES) out += GO_ESCAPES[c];
    else if (code < 0x20 || code === 0x7f) out += "\\x" + hex(code, 2);
    else if (code < 0x80 || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(c)) out += c;
    else if (code === 0xfffd) out += c;
    else if (code < 0x10000) out += "\\u" + hex(code, 4);
    else out += "\\U" + hex(code, 8);
  }
  return out + '"';
}

const GO_ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** The Levenshtein distance, for hcl's "Did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[y.length];
}
