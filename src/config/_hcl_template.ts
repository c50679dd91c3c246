/**
 * HCL templates (quoted strings and heredocs) as hclsyntax parses them: literal text with its
 * escapes resolved, `${…}` interpolations, `%{if}`/`%{for}` directives, `~` whitespace stripping
 * and `<<-` indent flushing, each applied to the same pieces hcl applies them to.
 *
 * @module
 */

import { editDistance, type Expr, goQuote } from "./_hcl_ast.ts";
import { type Diag, isGoSpace, type Range, T, type Token } from "./_hcl_token.ts";
import { Peeker, rangeBetween } from "./_hcl_peek.ts";
import { unescapeString } from "./_hcl_string.ts";
import { type Part, TreeBuilder } from "./_hcl_template_tree.ts";

export interface TemplateInner {
  exprs: Expr[];
  /** A lone `${…}`: the template is the expression itself. */
  passthru: boolean;
  diags: Diag[];
}

export abstract class TemplateParser extends Peeker {
  abstract parseExpression(): [Expr, Diag[]];

  parseTemplateInner(end: string, flush: boolean): TemplateInner {
    const [pieces, diags] = this.#parseParts(end);
    if (flush) flushHeredoc(pieces);
    const parts = meld(pieces);
    const tree = new TreeBuilder(this.file, parts);
    const exprs = tree.root();
    diags.push(...tree.diags);
    return { exprs, passthru: parts.length === 2 && parts[0].t === "interp", diags };
  }

  #parseParts(end: string): [Part[], Diag[]] {
    const parts: Part[] = [];
    const diags: Diag[] = [];
    const startRange = this.nextRange();
    let ltrimNext = false;
    let nextCanTrimPrev = false;
    let endRange: Range;
    for (;;) {
      const next = this.read();
      if (next.type === end) {
        endRange = next.range;
        break;
      }
      const ltrim = ltrimNext;
      ltrimNext = false;
      const canTrimPrev = nextCanTrimPrev;
      nextCanTrimPrev = false;
      if (next.type === T.StringLit || next.type === T.QuotedLit) {
        let [str, strDiags] = unescapeString(this.text, next);
        diags.push(...strDiags);
        if (ltrim) str = trimLeft(str);
        parts.push({ t: "lit", val: str, range: next.range });
        nextCanTrimPrev = true;
        continue;
      }
      if (next.type === T.TemplateInterp || next.type === T.TemplateControl) {
        const last = parts[parts.length - 1];
        if (canTrimPrev && this.bytes(next).endsWith("~") && last?.t === "lit") {
          last.val = trimRight(last.val);
        }
        this.pushNewlines(false);
        ltrimNext = next.type === T.TemplateInterp
          ? this.#interp(next, startRange, end, parts, diags)
          : this.#directive(next, parts, diags);
        this.popNewlines();
        continue;
      }
      if (!this.recovery) {
        diags.push({
          summary: "Unterminated template string",
          detail: "No closing marker was found for the string.",
          subject: next.range,
        });
      }
      endRange = this.recover(end).range;
      break;
    }
    if (parts.length === 0) {
      const at = startRange.end;
      parts.push({ t: "lit", val: "", range: { start: at, end: at } });
    }
    parts.push({ t: "end", range: endRange });
    return [parts, diags];
  }

  /** Reads a sequence's closing brace: whether it is `~}`, which trims the text after it. */
  #close(): boolean {
    return this.bytes(this.read()) === "~}";
  }

  /** Parses `${…}`: whether it ends in `~}`. */
  #interp(next: Token, startRange: Range, end: string, parts: Part[], diags: Diag[]): boolean {
    const [expr, exprDiags] = this.parseExpression();
    diags.push(...exprDiags);
    const close = this.peek();
    let trim = false;
    if (close.type !== T.TemplateSeqEnd) {
      if (!this.recovery) diags.push(unclosedInterp(close, startRange, end));
      this.recover(T.TemplateSeqEnd);
    } else trim = this.#close();
    parts.push({ t: "interp", expr, range: rangeBetween(next.range, close.range) });
    return trim;
  }

  /** Parses `%{…}`: whether it ends in `~}`. */
  #directive(next: Token, parts: Part[], diags: Diag[]): boolean {
    const kw = this.peek();
    const fail = (summary: string, detail: string, subject: Range) => {
      if (!this.recovery) diags.push({ summary, detail, subject });
      this.recover(T.TemplateSeqEnd);
      return false;
    };
    if (kw.type !== T.Ident) {
      return fail(
        "Invalid template directive",
        'A template directive keyword ("if", "for", etc) is expected at the beginning of a %{ ' +
          "sequence.",
        kw.range,
      );
    }
    this.read();
    const word = this.bytes(kw);
    const here = () => rangeBetween(next.range, this.nextRange());
    if (word === "if") {
      const [cond, condDiags] = this.parseExpression();
      diags.push(...condDiags);
      parts.push({ t: "if", cond, range: here() });
    } else if (word === "else" || word === "endif" || word === "endfor") {
      parts.push({ t: word, range: here() });
    } else if (word === "for") {
      const forFail = (detail: string) =>
        fail("Invalid 'for' directive", detail, this.peek().range);
      if (this.peek().type !== T.Ident) {
        return forFail("For directive requires variable name after 'for'.");
      }
      let keyVar = "";
      let valVar = this.bytes(this.read());
      if (this.peek().type === T.Comma) {
        keyVar = valVar;
        this.read();
        if (this.peek().type !== T.Ident) {
          return forFail("For directive requires value variable name after comma.");
        }
        valVar = this.bytes(this.read());
      }
      const inKw = this.peek();
      if (inKw.type !== T.Ident || this.bytes(inKw) !== "in") {
        return forFail("For directive requires 'in' keyword after names.");
      }
      this.read();
      const [coll, collDiags] = this.parseExpression();
      diags.push(...collDiags);
      parts.push({ t: "for", keyVar, valVar, coll, range: here() });
    } else {
      const hint = ["if", "for", "else", "endif", "endfor"].find((s) => editDistance(word, s) < 3);
      return fail(
        "Invalid template control keyword",
        `${goQuote(word)} is not a valid template control keyword.${
          hint ? ` Did you mean ${goQuote(hint)}?` : ""
        }`,
        kw.range,
      );
    }
    const close = this.peek();
    if (close.type !== T.TemplateSeqEnd) {
      if (!this.recovery) {
        diags.push({
          summary: `Extra characters in ${word} marker`,
          detail: "Expected a closing brace to end the sequence, but found extra characters.",
          subject: close.range,
        });
      }
      this.recover(T.TemplateSeqEnd);
      return false;
    }
    return this.#close();
  }
}

function unclosedInterp(close: Token, startRange: Range, end: string): Diag {
  const escape = 'escape it by starting with "$${" instead of just "${".';
  if (close.type === T.EOF) {
    return {
      summary: "Unclosed template interpolation sequence",
      detail: "There is no closing brace for this interpolation sequence before the end of the " +
        "file. This might be caused by incorrect nesting inside the given expression.",
      subject: startRange,
    };
  }
  if (close.type === T.Colon) {
    return {
      summary: "Extra characters after interpolation expression",
      detail: "Template interpolation doesn't expect a colon at this location. Did you intend " +
        "this to be a literal sequence to be processed as part of another language? If so, you " +
        `can ${escape}`,
      subject: close.range,
    };
  }
  if ((close.type === T.CQuote || close.type === T.OQuote) && end === T.CQuote) {
    return {
      summary: "Unclosed template interpolation sequence",
      detail: "There is no closing brace for this interpolation sequence before the end of the " +
        "quoted template. This might be caused by incorrect nesting inside the given expression.",
      subject: startRange,
    };
  }
  return {
    summary: "Extra characters after interpolation expression",
    detail: "Expected a closing brace to end the interpolation expression, but found extra " +
      "characters.\n\nThis can happen when you include interpolation syntax for another " +
      "language, such as shell scripting, but forget to escape the interpolation start token. If " +
      `this is an embedded sequence for another language, ${escape}`,
    subject: close.range,
  };
}

function trimLeft(s: string): string {
  let i = 0;
  while (i < s.length && isGoSpace(s[i])) i++;
  return s.slice(i);
}

function trimRight(s: string): string {
  let i = s.length;
  while (i > 0 && isGoSpace(s[i - 1])) i--;
  return s.slice(0, i);
}

let segmenter: Intl.Segmenter | undefined;

function clusters(s: string): string[] {
  if (/^\p{ASCII}*$/u.test(s)) return s.match(/\r\n|[^]/g) ?? [];
  segmenter ??= new Intl.Segmenter("en", { granularity: "grapheme" });
  return [...segmenter.segment(s)].map((s) => s.segment);
}

/**
 * `<<-`: removes from each line's leading literal as many leading characters as the least
 * indented line has, counting the pieces hcl counts (a line starting with `${` counts as 0).
 */
function flushHeredoc(parts: Part[]): void {
  let min = Infinity;
  let newline = true;
  const adjust: Extract<Part, { t: "lit" }>[] = [];
  for (const part of parts) {
    if (newline) {
      newline = false;
      let spaces = 0;
      if (part.t === "lit") {
        const trimmed = trimLeft(part.val);
        if (trimmed.length === 0 && part.val.endsWith("\n")) spaces = Infinity;
        else {
          spaces = clusters(part.val.slice(0, part.val.length - trimmed.length)).length;
          adjust.push(part);
        }
      } else if (part.t === "end") break;
      if (spaces < min) min = spaces;
    }
    if (part.t === "lit" && part.val.endsWith("\n")) newline = true;
  }
  for (const lit of adjust) {
    const cut = clusters(lit.val).slice(0, min).join("").length;
    lit.val = lit.val.slice(cut);
    const { line, col, off } = lit.range.start;
    lit.range = { start: { line, col: col + min, off: off + cut }, end: lit.range.end };
  }
}

/** Joins neighbouring literal pieces into one, as hcl does after trimming. */
function meld(parts: Part[]): Part[] {
  const out: Part[] = [];
  for (const part of parts) {
    const prev = out[out.length - 1];
    if (prev?.t === "lit" && part.t === "lit") {
      prev.val += part.val;
      prev.range = { start: prev.range.start, end: part.range.end };
    } else out.push(part);
  }
  return out;
}
