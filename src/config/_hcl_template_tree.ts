/**
 * Nests a template's pieces into hclsyntax's tree: `%{if}…%{else}…%{endif}` becomes a
 * conditional and `%{for}…%{endfor}` a join, with hcl's problems for unbalanced directives.
 *
 * @module
 */

import { type Expr, rangeString } from "./_hcl_ast.ts";
import { type Diag, HclUnsupported, type Range } from "./_hcl_token.ts";
import { MAX_DEPTH, rangeBetween } from "./_hcl_peek.ts";

/** One piece of a template before its directives are nested. */
export type Part =
  | { t: "lit"; val: string; range: Range }
  | { t: "interp"; expr: Expr; range: Range }
  | { t: "if"; cond: Expr; range: Range }
  | { t: "for"; keyVar: string; valVar: string; coll: Expr; range: Range }
  | { t: "endif" | "else" | "endfor"; range: Range }
  | { t: "end"; range: Range };

/** Nests a template's pieces: `%{if}…%{else}…%{endif}` and `%{for}…%{endfor}`. */
export class TreeBuilder {
  readonly diags: Diag[] = [];
  readonly #file: string;
  readonly #parts: Part[];
  #pos = 0;

  constructor(file: string, parts: Part[]) {
    this.#file = file;
    this.#parts = parts;
  }

  root(): Expr[] {
    const exprs: Expr[] = [];
    while (this.#parts[this.#pos].t !== "end") exprs.push(this.#expr());
    return exprs;
  }

  #expr(): Expr {
    const part = this.#parts[this.#pos];
    if (part.t !== "end") this.#pos++;
    switch (part.t) {
      case "lit":
        return { kind: "literal", value: part.val, range: part.range };
      case "interp":
        return part.expr;
      case "if":
      case "for":
        return this.#directive(part);
      default:
        this.diags.push({
          summary: part.t === "end"
            ? "Unexpected end of template"
            : `Unexpected ${part.t} directive`,
          detail: "The control directives within this template are unbalanced.",
          subject: part.range,
        });
        return { kind: "literal", value: undefined, range: part.range };
    }
  }

  #depth = 0;

  #directive(open: Extract<Part, { t: "if" | "for" }>): Expr {
    if (++this.#depth > MAX_DEPTH) {
      throw new HclUnsupported(open.range.start, "template directives nested this deeply");
    }
    try {
      return this.#branches(open);
    } finally {
      this.#depth--;
    }
  }

  #branches(open: Extract<Part, { t: "if" | "for" }>): Expr {
    const branches: Expr[][] = [[]];
    const at = rangeString(this.#file, open.range);
    for (;;) {
      const next = this.#parts[this.#pos];
      if (next.t === "end") {
        this.diags.push({
          summary: "Unexpected end of template",
          detail: `The ${open.t} directive at ${at} is missing its corresponding end${open.t} ` +
            "directive.",
          subject: next.range,
        });
        return { kind: "literal", value: undefined, range: next.range };
      }
      if (next.t === "else" || next.t === "endif" || next.t === "endfor") {
        this.#pos++;
        if (next.t === "else" && open.t === "if" && branches.length === 1) {
          branches.push([]);
          continue;
        }
        if (next.t === `end${open.t}`) {
          return open.t === "if"
            ? this.#if(open, branches, next.range)
            : this.#for(open, branches[0], next.range);
        }
        this.diags.push({
          summary: `Unexpected ${next.t} directive`,
          detail: next.t === "else"
            ? open.t === "if"
              ? `Already in the else clause for the if started at ${at}.`
              : "An else clause is not expected for a for directive."
            : open.t === "if"
            ? `Expecting an endif directive for the if started at ${at}.`
            : `Expecting an endfor directive corresponding to the for directive at ${at}.`,
          subject: next.range,
        });
        return { kind: "literal", value: undefined, range: next.range };
      }
      branches[branches.length - 1].push(this.#expr());
    }
  }

  #if(open: Extract<Part, { t: "if" }>, branches: Expr[][], endRange: Range): Expr {
    const [yes, no = []] = branches;
    if (yes.length === 0) yes.push(emptyAt(open.range.end));
    if (no.length === 0) no.push(emptyAt(endRange.start));
    return {
      kind: "conditional",
      cond: open.cond,
      yes: template(yes),
      no: template(no),
      range: rangeBetween(open.range, endRange),
    };
  }

  #for(open: Extract<Part, { t: "for" }>, body: Expr[], endRange: Range): Expr {
    if (body.length === 0) body.push(emptyAt(open.range.end));
    return {
      kind: "join",
      keyVar: open.keyVar,
      valVar: open.valVar,
      coll: open.coll,
      body: template(body),
      range: rangeBetween(open.range, endRange),
    };
  }
}

function emptyAt(at: Range["start"]): Expr {
  return { kind: "literal", value: "", range: { start: at, end: at } };
}

function template(parts: Expr[]): Expr {
  return {
    kind: "template",
    parts,
    range: rangeBetween(parts[0].range, parts[parts.length - 1].range),
  };
}
