/**
 * HCL's operators (conditional, binary by precedence) and its collection constructors (tuples,
 * objects, `for` expressions), parsed as hclsyntax parses them.
 *
 * @module
 */

import type { Expr } from "./_hcl_ast.ts";
import { type Diag, type Range, T, type Token, type TokenType } from "./_hcl_token.ts";
import { opposite, rangeBetween } from "./_hcl_peek.ts";
import { TermParser } from "./_hcl_expr.ts";

/** Binary operators by precedence, lowest first; each level is left-associative. */
const LEVELS: TokenType[][] = [
  [T.Or],
  [T.And],
  [T.EqualOp, T.NotEqual],
  [T.GreaterThan, T.GreaterThanEq, T.LessThan, T.LessThanEq],
  [T.Plus, T.Minus],
  [T.Star, T.Slash, T.Percent],
];

export class ExprParser extends TermParser {
  isKeyword(tok: Token, word: string): boolean {
    return tok.type === T.Ident && this.bytes(tok) === word;
  }

  parseExpression(): [Expr, Diag[]] {
    return this.nested(() => this.#conditional());
  }

  #conditional(): [Expr, Diag[]] {
    const startRange = this.nextRange();
    const [cond, diags] = this.#binary(0);
    if (this.recovery && diags.length > 0) return [cond, diags];
    if (this.peek().type !== T.Question) return [cond, diags];
    this.read();
    const [yes, yesDiags] = this.parseExpression();
    diags.push(...yesDiags);
    if (this.recovery && yesDiags.length > 0) return [cond, diags];
    const colon = this.peek();
    if (colon.type !== T.Colon) {
      diags.push({
        summary: "Missing false expression in conditional",
        detail: "The conditional operator (...?...:...) requires a false expression, delimited " +
          "by a colon.",
        subject: colon.range,
      });
      return [cond, diags];
    }
    this.read();
    const [no, noDiags] = this.parseExpression();
    diags.push(...noDiags);
    if (this.recovery && noDiags.length > 0) return [cond, diags];
    const range = rangeBetween(startRange, no.range);
    return [{ kind: "conditional", cond, yes, no, range }, diags];
  }

  #binary(level: number): [Expr, Diag[]] {
    if (level === LEVELS.length) return this.parseExpressionWithTraversals();
    let [lhs, diags] = this.#binary(level + 1);
    if (this.recovery && diags.length > 0) return [lhs, diags];
    let rhs: Expr | undefined;
    while (LEVELS[level].includes(this.peek().type)) {
      if (rhs) lhs = { kind: "other", range: rangeBetween(lhs.range, rhs.range) };
      this.read();
      const [next, nextDiags] = this.#binary(level + 1);
      rhs = next;
      diags.push(...nextDiags);
      if (this.recovery && nextDiags.length > 0) return [lhs, diags];
    }
    if (!rhs) return [lhs, diags];
    return [{ kind: "other", range: rangeBetween(lhs.range, rhs.range) }, diags];
  }

  parseTupleCons(): [Expr, Diag[]] {
    const open = this.read();
    this.pushNewlines(false);
    try {
      if (this.isKeyword(this.peek(), "for")) return this.#forExpr(open);
      const diags: Diag[] = [];
      const exprs: Expr[] = [];
      let close: Token;
      for (;;) {
        if (this.peek().type === T.CBrack) {
          close = this.read();
          break;
        }
        const [expr, exprDiags] = this.parseExpression();
        exprs.push(expr);
        diags.push(...exprDiags);
        if (this.recovery && exprDiags.length > 0) {
          close = this.recover(T.CBrack);
          break;
        }
        const next = this.peek();
        if (next.type === T.CBrack) {
          close = this.read();
          break;
        }
        if (next.type !== T.Comma) {
          if (!this.recovery) {
            diags.push(
              next.type === T.EOF
                ? {
                  summary: "Unterminated tuple constructor expression",
                  detail: "There is no corresponding closing bracket before the end of the " +
                    "file. This may be caused by incorrect bracket nesting elsewhere in this file.",
                  subject: open.range,
                }
                : {
                  summary: "Missing item separator",
                  detail: "Expected a comma to mark the beginning of the next item.",
                  subject: next.range,
                },
            );
          }
          close = this.recover(T.CBrack);
          break;
        }
        this.read();
      }
      return [{ kind: "tuple", exprs, range: rangeBetween(open.range, close.range) }, diags];
    } finally {
      this.popNewlines();
    }
  }

  parseObjectCons(): [Expr, Diag[]] {
    const open = this.read();
    // `for` is looked for across newlines: for expressions are not newline-sensitive.
    this.pushNewlines(false);
    const isFor = this.isKeyword(this.peek(), "for");
    this.popNewlines();
    if (isFor) return this.#forExpr(open);
    this.pushNewlines(true);
    try {
      const diags: Diag[] = [];
      const items: { key: Expr; value: Expr }[] = [];
      const close = this.#objectItems(open, items, diags);
      return [{ kind: "object", items, range: rangeBetween(open.range, close.range) }, diags];
    } finally {
      this.popNewlines();
    }
  }

  #objectItems(open: Token, items: { key: Expr; value: Expr }[], diags: Diag[]): Token {
    const unterminated = {
      summary: "Unterminated object constructor expression",
      detail: "There is no corresponding closing brace before the end of the file. This may be " +
        "caused by incorrect brace nesting elsewhere in this file.",
      subject: open.range,
    };
    for (;;) {
      let next = this.peek();
      if (next.type === T.Newline) {
        this.read();
        continue;
      }
      if (next.type === T.CBrace) return this.read();
      const [key, keyDiags] = this.parseExpression();
      diags.push(...keyDiags);
      if (this.recovery && keyDiags.length > 0) return this.recover(T.CBrace);
      next = this.peek();
      if (next.type !== T.Equal && next.type !== T.Colon) {
        if (!this.recovery) {
          const at = (summary: string, detail: string) => ({
            summary,
            detail,
            subject: next.range,
          });
          diags.push(
            next.type === T.Newline || next.type === T.Comma
              ? at(
                "Missing attribute value",
                'Expected an attribute value, introduced by an equals sign ("=").',
              )
              : next.type === T.Ident
              ? at(
                "Missing key/value separator",
                'Expected an equals sign ("=") to mark the beginning of the attribute value. If ' +
                  "you intended to given an attribute name containing periods or spaces, write " +
                  "the name in quotes to create a string literal.",
              )
              : next.type === T.EOF
              ? unterminated
              : at(
                "Missing key/value separator",
                'Expected an equals sign ("=") to mark the beginning of the attribute value.',
              ),
          );
        }
        return this.recover(T.CBrace);
      }
      this.read();
      const [value, valueDiags] = this.parseExpression();
      diags.push(...valueDiags);
      if (this.recovery && valueDiags.length > 0) return this.recover(T.CBrace);
      items.push({ key, value });
      next = this.peek();
      if (next.type === T.CBrace) return this.read();
      if (next.type !== T.Comma && next.type !== T.Newline) {
        if (!this.recovery) {
          diags.push(
            next.type === T.EOF ? unterminated : {
              summary: "Missing attribute separator",
              detail: "Expected a newline or comma to mark the beginning of the next attribute.",
              subject: next.range,
            },
          );
        }
        return this.recover(T.CBrace);
      }
      this.read();
    }
  }

  #forExpr(open: Token): [Expr, Diag[]] {
    this.pushNewlines(false);
    try {
      return this.#forBody(open);
    } finally {
      this.popNewlines();
    }
  }

  #forBody(open: Token): [Expr, Diag[]] {
    this.read(); // for
    const makeObj = open.type === T.OBrace;
    const closeType = makeObj ? T.CBrace : T.CBrack;
    const diags: Diag[] = [];
    const fail = (detail: string | null, end: TokenType = closeType): [Expr, Diag[]] => {
      if (detail !== null && !this.recovery) {
        diags.push({ summary: "Invalid 'for' expression", detail, subject: this.peek().range });
      }
      const close = this.recover(end);
      return [
        { kind: "literal", value: undefined, range: rangeBetween(open.range, close.range) },
        diags,
      ];
    };
    if (this.peek().type !== T.Ident) {
      return fail("For expression requires variable name after 'for'.");
    }
    this.read();
    if (this.peek().type === T.Comma) {
      this.read();
      if (this.peek().type !== T.Ident) {
        return fail("For expression requires value variable name after comma.");
      }
      this.read();
    }
    if (!this.isKeyword(this.peek(), "in")) {
      return fail("For expression requires the 'in' keyword after its name declarations.");
    }
    this.read();
    const [, collDiags] = this.parseExpression();
    diags.push(...collDiags);
    if (this.recovery && collDiags.length > 0) return fail(null);
    if (this.peek().type !== T.Colon) {
      return fail("For expression requires a colon after the collection expression.");
    }
    this.read();
    let keyExpr: Expr | undefined;
    let keyDiags: Diag[] = [];
    let [valExpr, valDiags] = this.parseExpression();
    if (this.peek().type === T.FatArrow) {
      this.read();
      [keyExpr, keyDiags] = [valExpr, valDiags];
      [valExpr, valDiags] = this.parseExpression();
    }
    diags.push(...keyDiags, ...valDiags);
    if (this.recovery && (keyDiags.length > 0 || valDiags.length > 0)) return fail(null);
    let ellipsis: Range | undefined;
    if (this.peek().type === T.Ellipsis) ellipsis = this.read().range;
    if (this.isKeyword(this.peek(), "if")) {
      this.read();
      const [, condDiags] = this.parseExpression();
      diags.push(...condDiags);
      if (this.recovery && condDiags.length > 0) return fail(null, opposite(open.type));
    }
    let close: Token;
    if (this.peek().type === closeType) close = this.read();
    else {
      if (!this.recovery) {
        diags.push({
          summary: "Invalid 'for' expression",
          detail: "Extra characters after the end of the 'for' expression.",
          subject: this.peek().range,
        });
      }
      close = this.recover(closeType);
    }
    const misuse = (detail: string, subject: Range) =>
      diags.push({ summary: "Invalid 'for' expression", detail, subject });
    if (!makeObj) {
      if (keyExpr) misuse("Key expression is not valid when building a tuple.", keyExpr.range);
      if (ellipsis) {
        misuse("Grouping ellipsis (...) cannot be used when building a tuple.", ellipsis);
      }
    } else if (!keyExpr) {
      misuse("Key expression is required when building an object.", valExpr.range);
    }
    return [{ kind: "other", range: rangeBetween(open.range, close.range) }, diags];
  }
}
