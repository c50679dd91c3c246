/**
 * HCL → JSON in TypeScript: the JSON hcl2json (`@cdktf/hcl2json`, Go compiled to WebAssembly)
 * returns for the same file, and failure where it fails, with its message (the same first
 * problem, so load.ts's `hclProblems()` reads both alike), without the 20 MB of memory a Go
 * runtime keeps.
 *
 * The parser follows hashicorp/hcl v2.23's `hclsyntax` step by step, recovery included, because
 * what it accepts and the first problem it reports depend on those steps; the conversion follows
 * tmccombs/hcl2json v0.6.5 (the versions in the package's WebAssembly). Syntax it cannot
 * reproduce exactly (non-ASCII identifiers, numbers beyond 100 digits or a power of ten past
 * 10,000, nesting past 200 levels) fails with "Unsupported syntax" at its line rather
 * than give JSON hcl2json would not.
 *
 * @module
 */

import { type Attribute, type Block, type Body, goQuote, rangeString } from "./_hcl_ast.ts";
import { convertFile } from "./_hcl_convert.ts";
import { ExprParser } from "./_hcl_expr_ops.ts";
import { scanTokens } from "./_hcl_lex.ts";
import { checkInvalidTokens, rangeBetween } from "./_hcl_peek.ts";
import { unescapeString } from "./_hcl_string.ts";
import {
  type Diag,
  HclUnsupported,
  type Range,
  T,
  type Token,
  type TokenType,
} from "./_hcl_token.ts";

/** Parses one file's HCL text into hcl2json's JSON; rejects with hcl2json's error message. */
export type HclParse = (file: string, text: string) => Promise<Record<string, unknown>>;

/** The TypeScript parser, in the shape of `hclInProcess()`'s (`_hcl.ts`, the reference). */
export function hclInTypeScript(): HclParse {
  return (file, text) => {
    try {
      return Promise.resolve(parseHcl(file, text));
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

/**
 * Parses one file's HCL text into hcl2json's JSON. Throws an `Error` with hcl2json's message:
 * `parse config: [file:line,col-col: Summary; Detail. …]`, or `convert to HCL: …`.
 */
export function parseHcl(file: string, text: string): Record<string, unknown> {
  // Go reads the text as UTF-8: a lone surrogate becomes U+FFFD there.
  const src = text.toWellFormed();
  try {
    const { tokens, unsupported } = scanTokens(src);
    const diags = checkInvalidTokens(src, tokens);
    const [body, parseDiags] = new BodyParser(file, src, tokens).parseBody(T.EOF);
    diags.push(...parseDiags);
    if (diags.length > 0) {
      const list = diags.map((d) => `${rangeString(file, d.subject)}: ${d.summary}; ${d.detail}`);
      throw new Error(`parse config: [${list.join(" ")}]`);
    }
    const json = convertFile(file, src, body);
    if (unsupported) throw new HclUnsupported(unsupported, "non-ASCII identifiers");
    return json;
  } catch (err) {
    if (!(err instanceof HclUnsupported)) throw err;
    const { line, col } = err.at;
    throw new Error(
      `parse config: [${file}:${line},${col}-${col + 1}: Unsupported syntax; ${err.message}.]`,
    );
  }
}

const NEEDS_EQUALS = 'To set an argument, use the equals sign "=" to introduce the argument value.';

class BodyParser extends ExprParser {
  parseBody(end: TokenType): [Body, Diag[]] {
    return this.nested(() => this.#body(end));
  }

  #body(end: TokenType): [Body, Diag[]] {
    const attributes = new Map<string, Attribute>();
    const blocks: Block[] = [];
    const diags: Diag[] = [];
    const startRange = this.prevRange();
    for (;;) {
      const next = this.peek();
      if (next.type === end) {
        this.read();
        break;
      }
      if (next.type === T.Newline) {
        this.read();
        continue;
      }
      if (next.type === T.Ident) {
        const [item, itemDiags] = this.#bodyItem();
        diags.push(...itemDiags);
        if (item && "labels" in item) blocks.push(item);
        else if (item) {
          const existing = attributes.get(item.name);
          if (existing) {
            diags.push({
              summary: "Attribute redefined",
              detail: `The argument ${goQuote(item.name)} was already set at ` +
                `${
                  rangeString(this.file, existing.nameRange)
                }. Each argument may be set only once.`,
              subject: item.nameRange,
            });
          } else attributes.set(item.name, item);
        }
        continue;
      }
      const bad = this.read();
      if (!this.recovery) {
        diags.push(
          bad.type === T.OQuote
            ? problem("Invalid argument name", "Argument names must not be quoted.", bad.range)
            : bad.type === T.EOF && end === T.CBrace
            ? unclosedBlock(startRange)
            : bad.type === T.EOF
            ? problem(
              "Unclosed configuration body",
              "Found end of file before the end of this configuration body.",
              startRange,
            )
            : definitionRequired("", bad.range),
        );
      }
      this.recover(end);
      break;
    }
    return [{ attributes, blocks }, diags];
  }

  #bodyItem(): [Attribute | Block | null, Diag[]] {
    const ident = this.read();
    const next = this.peek().type;
    if (next === T.Equal) return this.#attribute(ident, false);
    if (next === T.OQuote || next === T.OBrace || next === T.Ident) return this.#block(ident);
    this.recoverAfterBodyItem();
    return [null, [definitionRequired(NEEDS_EQUALS, ident.range)]];
  }

  /** The body of `name { attr = value }`: one attribute, on the block's line. */
  #singleAttrBody(): [Body | null, Diag[]] {
    const ident = this.read();
    if (ident.type !== T.Ident) {
      this.recoverAfterBodyItem();
      return [null, [definitionRequired("", ident.range)]];
    }
    const next = this.peek();
    if (next.type === T.Equal) {
      const [attr, diags] = this.#attribute(ident, true);
      return [{ attributes: new Map([[attr.name, attr]]), blocks: [] }, diags];
    }
    this.recoverAfterBodyItem();
    if (next.type === T.OQuote || next.type === T.OBrace || next.type === T.Ident) {
      return [null, [problem(
        "Argument definition required",
        "A single-line block definition can contain only a single argument. If you meant to " +
          `define argument ${goQuote(this.bytes(ident))}, use an equals sign to assign it a ` +
          "value. To define a nested block, place it on a line of its own within its parent " +
          "block.",
        rangeBetween(ident.range, next.range),
      )]];
    }
    return [null, [definitionRequired(NEEDS_EQUALS, ident.range)]];
  }

  #attribute(ident: Token, singleLine: boolean): [Attribute, Diag[]] {
    this.read(); // =
    const [expr, diags] = this.parseExpression();
    if (this.recovery && diags.length > 0) this.recoverAfterBodyItem();
    else if (!singleLine) {
      const end = this.peek();
      if (end.type !== T.Newline && end.type !== T.EOF) {
        if (!this.recovery) {
          const comma = end.type === T.Comma;
          diags.push(problem(
            comma ? "Unexpected comma after argument" : "Missing newline after argument",
            (comma ? "Argument definitions must be separated by newlines, not commas. " : "") +
              "An argument definition must end with a newline.",
            end.range,
          ));
        }
        this.recoverAfterBodyItem();
      } else this.read();
    }
    return [{ name: this.bytes(ident), expr, nameRange: ident.range }, diags];
  }

  #block(ident: Token): [Block, Diag[]] {
    const type = this.bytes(ident);
    const labels: string[] = [];
    const diags: Diag[] = [];
    const empty = (): Body => ({ attributes: new Map(), blocks: [] });
    let oBrace: Token;
    for (;;) {
      const tok = this.peek();
      if (tok.type === T.OBrace) {
        oBrace = this.read();
        break;
      }
      if (tok.type === T.OQuote) {
        const [label, labelDiags] = this.#quotedLabel();
        diags.push(...labelDiags);
        labels.push(label);
      } else if (tok.type === T.Ident) labels.push(this.bytes(this.read()));
      else {
        const invalid = (detail: string) =>
          diags.push(problem("Invalid block definition", detail, tok.range));
        if (tok.type === T.Equal) {
          invalid(
            'The equals sign "=" indicates an argument definition, and must not be used when ' +
              "defining a block.",
          );
        } else if (tok.type === T.Newline) {
          invalid(
            'A block definition must have block content delimited by "{" and "}", starting on ' +
              "the same line as the block header.",
          );
        } else if (!this.recovery) {
          invalid(
            'Either a quoted string block label or an opening brace ("{") is expected here.',
          );
        }
        this.recoverAfterBodyItem();
        return [{ type, labels, body: empty() }, diags];
      }
    }
    let body: Body | null;
    let bodyDiags: Diag[];
    const first = this.peek().type;
    if (first === T.Newline || first === T.EOF || first === T.CBrace) {
      [body, bodyDiags] = this.parseBody(T.CBrace);
    } else {
      [body, bodyDiags] = this.#singleAttrBody();
      const after = this.peek();
      const single = (detail: string) =>
        diags.push(problem("Invalid single-argument block definition", detail, after.range));
      if (after.type === T.CBrace) this.read();
      else {
        if (after.type === T.Comma) {
          single(
            "Single-line block syntax can include only one argument definition. To define " +
              "multiple arguments, use the multi-line block syntax with one argument definition " +
              "per line.",
          );
        } else if (after.type === T.Newline) {
          single(
            "An argument definition on the same line as its containing block creates a " +
              "single-line block definition, which must also be closed on the same line. Place " +
              "the block's closing brace immediately after the argument definition.",
          );
        } else if (!this.recovery) {
          if (after.type === T.EOF) diags.push(unclosedBlock(oBrace.range));
          else {
            single(
              "A single-line block definition must end with a closing brace immediately after " +
                "its single argument definition.",
            );
          }
        }
        this.recover(T.CBrace);
      }
    }
    diags.push(...bodyDiags);
    const eol = this.peek();
    if (eol.type === T.Newline || eol.type === T.EOF) this.read();
    else {
      if (!this.recovery) {
        diags.push(problem(
          "Missing newline after block definition",
          "A block definition must end with a newline.",
          eol.range,
        ));
      }
      this.recoverAfterBodyItem();
    }
    return [{ type, labels, body: body ?? empty() }, diags];
  }

  /** A block label: a quoted string without template sequences. */
  #quotedLabel(): [string, Diag[]] {
    this.read(); // the opening quote
    const diags: Diag[] = [];
    let out = "";
    for (;;) {
      const tok = this.read();
      if (tok.type === T.CQuote) break;
      if (tok.type === T.QuotedLit) {
        const [s, sDiags] = unescapeString(this.text, tok);
        diags.push(...sDiags);
        out += s;
      } else if (tok.type === T.TemplateControl || tok.type === T.TemplateInterp) {
        const which = tok.type === T.TemplateControl ? "%" : "$";
        diags.push(problem(
          "Invalid string literal",
          "Template sequences are not allowed in this string. To include a literal " +
            `${goQuote(which)}, double it (as "${which}${which}") to escape it.`,
          tok.range,
        ));
        out += `${which}{ ... }`;
        this.recover(T.TemplateSeqEnd);
      } else if (tok.type === T.EOF) {
        diags.push(problem(
          "Unterminated string literal",
          "Unable to find the closing quote mark before the end of the file.",
          tok.range,
        ));
        break;
      } else {
        diags.push(problem(
          "Invalid string literal",
          "This item is not valid in a string literal.",
          tok.range,
        ));
        this.recover(T.CQuote);
        break;
      }
    }
    return [out, diags];
  }
}

function problem(summary: string, detail: string, subject: Range): Diag {
  return { summary, detail, subject };
}

function definitionRequired(more: string, subject: Range): Diag {
  return problem(
    "Argument or block definition required",
    `An argument or block definition is required here.${more ? ` ${more}` : ""}`,
    subject,
  );
}

function unclosedBlock(subject: Range): Diag {
  return problem(
    "Unclosed configuration block",
    "There is no closing brace for this block before the end of the file. This may be caused " +
      "by incorrect brace nesting elsewhere in this file.",
    subject,
  );
}
