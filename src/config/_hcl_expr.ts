/**
 * HCL expression terms and the traversals after them (`a.b[0]`, `x[*].y`, `f(x)`), parsed as
 * hclsyntax parses them: the same nodes, source ranges and problems.
 *
 * @module
 */

import type { Expr } from "./_hcl_ast.ts";
import { type Diag, type Range, T, type Token } from "./_hcl_token.ts";
import { rangeBetween } from "./_hcl_peek.ts";
import { TemplateParser } from "./_hcl_template.ts";

const NUMBER = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const INT64 = 2n ** 63n;
const INT32 = 2n ** 31n;

/**
 * Whether Go's `big.ParseFloat` takes a number token: one decimal point at most, an exponent
 * that fits an int64, and a binary exponent that fits an int32.
 */
function goParsesNumber(text: string): boolean {
  const m = NUMBER.exec(text);
  if (!m) return false;
  const exp = BigInt(m[3] ?? "0");
  if (exp < -INT64 || exp >= INT64) return false;
  const mantissa = BigInt(m[1] + (m[2] ?? ""));
  if (mantissa === 0n) return true;
  const exp2 = BigInt(mantissa.toString(2).length) - BigInt((m[2] ?? "").length) + exp;
  return exp2 >= -INT32 && exp2 < INT32;
}

function other(range: Range): Expr {
  return { kind: "other", range };
}

function invalid(range: Range): Expr {
  return { kind: "literal", value: undefined, range };
}

/** Appends a traversal step: a name's steps stay a `scope` traversal, others become relative. */
function traverse(expr: Expr, step: Range): Expr {
  if (expr.kind === "scope" || expr.kind === "relative") {
    expr.range = rangeBetween(expr.range, step);
    return expr;
  }
  return { kind: "relative", range: rangeBetween(expr.range, step) };
}

function isLiteral(e: Expr): boolean {
  return e.kind === "literal" || e.kind === "number";
}

export abstract class TermParser extends TemplateParser {
  abstract parseTupleCons(): [Expr, Diag[]];
  abstract parseObjectCons(): [Expr, Diag[]];

  parseExpressionWithTraversals(): [Expr, Diag[]] {
    return this.nested(() => {
      const [term, diags] = this.#parseTerm();
      const [ret, more] = this.#parseTraversals(term);
      return [ret, [...diags, ...more]];
    });
  }

  #parseTraversals(from: Expr): [Expr, Diag[]] {
    const diags: Diag[] = [];
    let ret = from;
    traversal: for (;;) {
      const next = this.peek();
      if (next.type === T.Dot) {
        const dot = this.read();
        const attrTok = this.peek();
        if (attrTok.type === T.Ident) {
          this.read();
          ret = traverse(ret, rangeBetween(dot.range, attrTok.range));
        } else if (attrTok.type === T.NumberLit) {
          const num = this.read();
          if (!this.#legacyIndex(num, attrTok, diags, "")) diags.push(...this.#numberLit(num)[1]);
          ret = traverse(ret, rangeBetween(dot.range, num.range));
        } else if (attrTok.type === T.Star) {
          // The attribute-only splat `x.*.name`, from HIL.
          const marker = this.read();
          let lastRange = marker.range;
          while (this.peek().type === T.Dot) {
            this.read();
            if (this.peek().type === T.NumberLit) {
              const num = this.read();
              const hint = " with a full splat expression [*]";
              if (!this.#legacyIndex(num, attrTok, diags, hint)) {
                diags.push(...this.#numberLit(num)[1]);
              }
              lastRange = num.range;
              continue;
            }
            if (this.peek().type !== T.Ident) {
              if (!this.recovery) {
                diags.push(
                  this.peek().type === T.Star
                    ? {
                      summary: "Nested splat expression not allowed",
                      detail: "A splat expression (*) cannot be used inside another " +
                        "attribute-only splat expression.",
                      subject: this.peek().range,
                    }
                    : badAttribute(attrTok.range),
                );
              }
              this.recovery = true;
              continue traversal;
            }
            lastRange = this.read().range;
          }
          ret = other(rangeBetween(from.range, lastRange));
        } else {
          diags.push(badAttribute(attrTok.range));
          ret = other(rangeBetween(from.range, dot.range));
          this.recovery = true;
        }
      } else if (next.type === T.OBrack) {
        const open = this.read();
        if (this.peek().type === T.Star) {
          this.read();
          let close = this.read();
          if (close.type !== T.CBrack && !this.recovery) {
            close = this.recover(T.CBrack);
            // Go's problem points at its variable `close`, reassigned to what recovery found.
            diags.push({
              summary: "Missing close bracket on splat index",
              detail: "The star for a full splat operator must be immediately followed by a " +
                'closing bracket ("]").',
              subject: close.range,
            });
          }
          const item = other(rangeBetween(open.range, close.range));
          const [each, nested] = this.nested(() => this.#parseTraversals(item));
          diags.push(...nested);
          ret = other(rangeBetween(from.range, each.range));
          continue;
        }
        this.pushNewlines(false);
        const [key, keyDiags] = this.parseExpression();
        diags.push(...keyDiags);
        let close: Token;
        if (this.recovery && keyDiags.length > 0) close = this.recover(T.CBrack);
        else {
          close = this.read();
          if (close.type !== T.CBrack && !this.recovery) {
            close = this.recover(T.CBrack);
            diags.push({
              summary: "Missing close bracket on index",
              detail: 'The index operator must end with a closing bracket ("]").',
              subject: close.range,
            });
          }
        }
        this.popNewlines();
        const rng = rangeBetween(open.range, close.range);
        const constant = isLiteral(key) ||
          (key.kind === "template" && key.parts.length === 1 && isLiteral(key.parts[0]));
        ret = constant ? traverse(ret, rng) : other(rangeBetween(from.range, rng));
      } else break;
    }
    return [ret, diags];
  }

  /** `x.0.1` reads as `x` then the number 0.1: refused, as hcl refuses it. */
  #legacyIndex(num: Token, at: Token, diags: Diag[], hint: string): boolean {
    const text = this.bytes(num);
    const dot = text.indexOf(".");
    if (dot < 0) return false;
    diags.push({
      summary: "Invalid legacy index syntax",
      detail: "When using the legacy index syntax, chaining two indexes together is not " +
        `permitted. Use the proper index syntax${hint} instead, like [${text.slice(0, dot)}]` +
        `[${text.slice(dot + 1)}].`,
      subject: at.range,
    });
    return true;
  }

  #numberLit(tok: Token): [Expr, Diag[]] {
    const text = this.bytes(tok);
    if (goParsesNumber(text)) return [{ kind: "number", text, range: tok.range }, []];
    return [invalid(tok.range), [{
      summary: "Invalid number literal",
      detail: "Failed to recognize the value of this number literal.",
      subject: tok.range,
    }]];
  }

  #parseTerm(): [Expr, Diag[]] {
    const start = this.peek();
    switch (start.type) {
      case T.OParen: {
        const open = this.read();
        this.pushNewlines(false);
        const [expr, diags] = this.parseExpression();
        if (diags.length > 0) {
          this.recover(T.CParen);
          this.popNewlines();
          return [expr, diags];
        }
        const close = this.peek();
        if (close.type !== T.CParen) {
          diags.push({
            summary: "Unbalanced parentheses",
            detail: "Expected a closing parenthesis to terminate the expression.",
            subject: close.range,
          });
          this.recovery = true;
        }
        const cParen = this.read();
        this.popNewlines();
        return [other(rangeBetween(open.range, cParen.range)), diags];
      }
      case T.NumberLit:
        return this.#numberLit(this.read());
      case T.Ident: {
        const tok = this.read();
        const after = this.peek().type;
        if (after === T.OParen || after === T.DoubleColon) return this.#functionCall(tok);
        const name = this.bytes(tok);
        const value = name === "true" ? true : name === "false" ? false : null;
        if (name === "true" || name === "false" || name === "null") {
          return [{ kind: "literal", value, range: tok.range }, []];
        }
        return [{ kind: "scope", range: tok.range }, []];
      }
      case T.OQuote:
      case T.OHeredoc: {
        const open = this.read();
        const flush = this.bytes(open).startsWith("<<-");
        const { exprs, passthru, diags } = this.parseTemplateInner(
          start.type === T.OQuote ? T.CQuote : T.CHeredoc,
          flush,
        );
        const range = rangeBetween(open.range, this.prevRange());
        if (passthru) return [{ kind: "wrap", wrapped: exprs[0], range }, diags];
        return [{ kind: "template", parts: exprs, range }, diags];
      }
      case T.Minus:
      case T.Bang: {
        const tok = this.read();
        // Only a term: `-46+5` is `(-46)+5`.
        const [operand, diags] = this.parseExpressionWithTraversals();
        const op = tok.type === T.Minus ? "-" : "!";
        return [
          { kind: "unary", op, operand, range: rangeBetween(tok.range, operand.range) },
          diags,
        ];
      }
      case T.OBrack:
        return this.parseTupleCons();
      case T.OBrace:
        return this.parseObjectCons();
      default: {
        const diags: Diag[] = [];
        if (!this.recovery) {
          diags.push(
            start.type === T.EOF
              ? {
                summary: "Missing expression",
                detail: "Expected the start of an expression, but found the end of the file.",
                subject: start.range,
              }
              : {
                summary: "Invalid expression",
                detail: "Expected the start of an expression, but found an invalid expression " +
                  "token.",
                subject: start.range,
              },
          );
        }
        this.recovery = true;
        return [invalid(start.range), diags];
      }
    }
  }

  #functionCall(name: Token): [Expr, Diag[]] {
    const diags: Diag[] = [];
    let open = this.read();
    while (open.type === T.DoubleColon) {
      const nextName = this.read();
      if (nextName.type !== T.Ident) {
        diags.push({
          summary: "Missing function name",
          detail: "Function scope resolution symbol :: must be followed by a function name in " +
            "this scope.",
          subject: nextName.range,
        });
        this.recoverOver(T.OParen);
        return [other(rangeBetween(name.range, nextName.range)), diags];
      }
      open = this.read();
    }
    if (open.type !== T.OParen) {
      diags.push({
        summary: "Missing open parenthesis",
        detail: "Function selector must be followed by an open parenthesis to begin the " +
          "function call.",
        subject: open.range,
      });
      this.recoverOver(T.OParen);
      return [other(rangeBetween(name.range, open.range)), diags];
    }
    let close: Token | undefined;
    this.pushNewlines(false);
    for (;;) {
      if (this.peek().type === T.CParen) {
        close = this.read();
        break;
      }
      const [, argDiags] = this.parseExpression();
      diags.push(...argDiags);
      if (this.recovery && argDiags.length > 0) {
        const recovered = this.recover(T.CParen);
        if (recovered.type === T.CParen) close = recovered;
        break;
      }
      const sep = this.read();
      if (sep.type === T.CParen) {
        close = sep;
        break;
      }
      if (sep.type === T.Ellipsis) {
        if (this.peek().type !== T.CParen) {
          if (!this.recovery) {
            diags.push({
              summary: "Missing closing parenthesis",
              detail: "An expanded function argument (with ...) must be immediately followed " +
                "by closing parentheses.",
              subject: sep.range,
            });
          }
          close = this.recover(T.CParen);
        } else close = this.read();
        break;
      }
      if (sep.type !== T.Comma) {
        diags.push(
          sep.type === T.EOF
            ? {
              summary: "Unterminated function call",
              detail: "There is no closing parenthesis for this function call before the end " +
                "of the file. This may be caused by incorrect parenthesis nesting elsewhere in " +
                "this file.",
              subject: rangeBetween(name.range, open.range),
            }
            : {
              summary: "Missing argument separator",
              detail: "A comma is required to separate each function argument from the next.",
              subject: sep.range,
            },
        );
        close = this.recover(T.CParen);
        break;
      }
      if (this.peek().type === T.CParen) {
        close = this.read();
        break;
      }
    }
    this.popNewlines();
    // Without a closing parenthesis (only after an error) Go's range ends at its zero position.
    return [other(rangeBetween(name.range, (close ?? name).range)), diags];
  }
}

function badAttribute(subject: Range): Diag {
  return {
    summary: "Invalid attribute name",
    detail: "An attribute name is required after a dot.",
    subject,
  };
}
