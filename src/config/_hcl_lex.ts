/**
 * Tokenizer for HCL's native syntax, producing the token stream hashicorp/hcl's `hclsyntax`
 * scanner (v2.23) produces: the same token types, boundaries and positions, so the parser built on
 * it accepts, rejects and reports exactly what hcl2json does.
 *
 * Positions follow hcl: lines count `\n` and `\r\n`, columns count grapheme clusters, and the
 * gap between tokens (only spaces and tabs) counts bytes, which are characters there.
 *
 * @module
 */

import { advance, type Pos, T, type Token, type TokenType, trimGoSpace } from "./_hcl_token.ts";

const SELF_TOKENS = new Set("[]().,*/%+-=<>!?:&|~^;`'");
const TWO_CHAR: Record<string, TokenType> = {
  "==": T.EqualOp,
  "!=": T.NotEqual,
  ">=": T.GreaterThanEq,
  "<=": T.LessThanEq,
  "&&": T.And,
  "||": T.Or,
  "::": T.DoubleColon,
  "=>": T.FatArrow,
};

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

const ASCII_IDENT_START = /[A-Za-z_]/;
const ASCII_IDENT_CONTINUE = /[A-Za-z0-9_-]/;
const IDENT_START = /^[\p{ID_Start}_]$/u;
const IDENT_CONTINUE = /^[\p{ID_Continue}-]$/u;

/** One heredoc being read: its closing marker, and whether the next token starts a line. */
interface Heredoc {
  marker: string;
  startOfLine: boolean;
}

type Mode = "main" | "string" | "heredoc";

/** A file's tokens, ending with an EOF token. */
export interface Scanned {
  tokens: Token[];
  /**
   * Where the first non-ASCII identifier character is. hcl's identifier tables are Unicode 9's,
   * JavaScript's newer: such a file is scanned as hcl would scan it, so its syntax errors come out
   * the same, but its JSON is refused.
   */
  unsupported?: Pos;
}

/** Scans a whole file (after any byte order mark) into tokens. */
export function scanTokens(text: string): Scanned {
  const scanner = new Scanner(text);
  return { tokens: scanner.scan(), unsupported: scanner.unsupported };
}

class Scanner {
  unsupported?: Pos;
  readonly #text: string;
  readonly #tokens: Token[] = [];
  #pos: Pos;
  #mode: Mode = "main";
  readonly #modes: Mode[] = [];
  #braces = 0;
  readonly #retBraces: number[] = [];
  readonly #heredocs: Heredoc[] = [];
  /** No `*\/` at or after this offset: later `/*` need not look for one again. */
  #noCommentEnd = Infinity;

  constructor(text: string) {
    this.#text = text;
    const bom = text.startsWith("\ufeff") ? 1 : 0;
    this.#pos = { line: 1, col: 1, off: bom };
  }

  scan(): Token[] {
    const text = this.#text;
    let i = this.#pos.off;
    while (i < text.length) {
      const next = this.#mode === "main"
        ? this.#main(i)
        : this.#mode === "string"
        ? this.#string(i)
        : this.#heredoc(i);
      if (next < 0) {
        // The heredoc scanner has no rule for a lone carriage return: hcl gives up there and
        // makes the rest of the file one invalid token.
        this.#emit(T.Invalid, i, text.length);
        break;
      }
      i = next;
    }
    this.#emit(T.EOF, text.length, text.length);
    return this.#tokens;
  }

  #emit(type: TokenType, start: number, end: number): void {
    const from = { line: this.#pos.line, col: this.#pos.col + start - this.#pos.off, off: start };
    const to = advance(this.#text, from, end);
    this.#pos = to;
    this.#tokens.push({ type, range: { start: from, end: to } });
  }

  #call(mode: Mode): void {
    this.#modes.push(this.#mode);
    this.#mode = mode;
  }

  #return(): void {
    this.#mode = this.#modes.pop() ?? "main";
  }

  /** A character (whole code point) at `i`. */
  #char(i: number): string {
    const code = this.#text.codePointAt(i);
    return code === undefined ? "" : String.fromCodePoint(code);
  }

  #main(i: number): number {
    const text = this.#text;
    const c = text[i];
    if (c === " " || c === "\t") {
      let j = i + 1;
      while (text[j] === " " || text[j] === "\t") j++;
      return j;
    }
    if (isDigit(c)) return this.#number(i);
    const identStart = this.#identStart(i);
    if (identStart > 0) {
      const end = this.#identEnd(i + identStart);
      this.#emit(T.Ident, i, end);
      return end;
    }
    if (c === "#" || (c === "/" && text[i + 1] === "/")) {
      const nl = text.indexOf("\n", i);
      const end = nl < 0 ? text.length : nl + 1;
      this.#emit(T.Comment, i, end);
      return end;
    }
    if (c === "/" && text[i + 1] === "*" && i < this.#noCommentEnd) {
      // Unclosed, it is no comment: hcl reads `/` and `*` and goes on.
      const close = text.indexOf("*/", i + 2);
      if (close >= 0) {
        this.#emit(T.Comment, i, close + 2);
        return close + 2;
      }
      this.#noCommentEnd = i;
    }
    if (c === "\n" || (c === "\r" && text[i + 1] === "\n")) {
      const end = c === "\n" ? i + 1 : i + 2;
      this.#emit(T.Newline, i, end);
      return end;
    }
    if (text.startsWith("...", i)) {
      this.#emit(T.Ellipsis, i, i + 3);
      return i + 3;
    }
    const two = text.slice(i, i + 2);
    if (two in TWO_CHAR) {
      this.#emit(TWO_CHAR[two], i, i + 2);
      return i + 2;
    }
    if (two === "~}" || c === "}") return this.#closeBrace(i, c === "}" ? 1 : 2);
    if (c === "{") {
      this.#emit(T.OBrace, i, i + 1);
      this.#braces++;
      return i + 1;
    }
    if (c === '"') {
      this.#emit(T.OQuote, i, i + 1);
      this.#call("string");
      return i + 1;
    }
    if (two === "<<") {
      const end = this.#heredocStart(i);
      if (end > 0) return end;
    }
    if (SELF_TOKENS.has(c)) {
      this.#emit(c, i, i + 1);
      return i + 1;
    }
    const ch = this.#char(i);
    this.#emit(T.Invalid, i, i + ch.length);
    return i + ch.length;
  }

  /** Length of an identifier's first character at `i`, or 0. */
  #identStart(i: number): number {
    const c = this.#text[i];
    if (c <= "\x7f") return ASCII_IDENT_START.test(c) ? 1 : 0;
    const ch = this.#char(i);
    if (!IDENT_START.test(ch)) return 0;
    this.#nonAscii(i);
    return ch.length;
  }

  #nonAscii(i: number): void {
    this.unsupported ??= advance(this.#text, this.#pos, i);
  }

  /** `digit (digit | "." | [eE][+-]?digit)*`, not ending in ".": "1.2.3" is one token. */
  #number(i: number): number {
    const text = this.#text;
    let j = i + 1;
    let end = j;
    for (;;) {
      const c = text[j];
      if (isDigit(c)) end = j += 1;
      else if (c === ".") j++;
      else if ((c === "e" || c === "E") && isDigit(text[j + 1])) end = j += 2;
      else if (
        (c === "e" || c === "E") && (text[j + 1] === "+" || text[j + 1] === "-") &&
        isDigit(text[j + 2])
      ) end = j += 3;
      else break;
    }
    this.#emit(T.NumberLit, i, end);
    return end;
  }

  /** The end of an identifier whose first character ends at `j`. */
  #identEnd(j: number): number {
    const text = this.#text;
    for (;;) {
      const c = text[j];
      if (c === undefined) return j;
      if (c <= "\x7f") {
        if (!ASCII_IDENT_CONTINUE.test(c)) return j;
        j++;
        continue;
      }
      const ch = this.#char(j);
      if (!IDENT_CONTINUE.test(ch)) return j;
      this.#nonAscii(j);
      j += ch.length;
    }
  }

  /** `<<EOT` or `<<-EOT` and a newline opens a heredoc; anything else there is two `<`. */
  #heredocStart(i: number): number {
    const text = this.#text;
    let j = i + 2;
    if (text[j] === "-") j++;
    const startLength = this.#identStart(j);
    if (startLength === 0) return -1;
    const markerEnd = this.#identEnd(j + startLength);
    let end = markerEnd;
    if (text[end] === "\r") end++;
    if (text[end] !== "\n") return -1;
    this.#emit(T.OHeredoc, i, end + 1);
    this.#heredocs.push({ marker: text.slice(j, markerEnd), startOfLine: true });
    this.#call("heredoc");
    return end + 1;
  }

  /** `}` or `~}`: ends a template sequence when it balances the sequence's opening brace. */
  #closeBrace(i: number, length: number): number {
    const top = this.#retBraces[this.#retBraces.length - 1];
    const ends = this.#retBraces.length > 0 && top === this.#braces;
    // `~}` is always a sequence end, so the parser can report it closing an ordinary brace.
    this.#emit(ends || length === 2 ? T.TemplateSeqEnd : T.CBrace, i, i + length);
    this.#braces--;
    if (ends) {
      this.#retBraces.pop();
      this.#return();
    }
    return i + length;
  }

  /** `${`, `%{` (with an optional `~`) at `i`: opens a template sequence; else -1. */
  #sequence(i: number): number {
    const text = this.#text;
    const c = text[i];
    if ((c !== "$" && c !== "%") || text[i + 1] !== "{") return -1;
    const end = text[i + 2] === "~" ? i + 3 : i + 2;
    this.#emit(c === "$" ? T.TemplateInterp : T.TemplateControl, i, end);
    this.#braces++;
    this.#retBraces.push(this.#braces);
    const doc = this.#heredocs[this.#heredocs.length - 1];
    if (doc) doc.startOfLine = false;
    this.#call("main");
    return end;
  }

  /**
   * Length of an escaped sequence opener (`$${`, `%%{`, with an optional `~`) or of a lone `$`
   * or `%` at `i`, which hcl scans as a literal token of its own; 0 when neither.
   */
  #templateNot(i: number): number {
    const text = this.#text;
    const c = text[i];
    if (c !== "$" && c !== "%") return 0;
    if (text[i + 1] === c && text[i + 2] === "{") return text[i + 3] === "~" ? 4 : 3;
    return i + 1 < text.length ? 1 : 0;
  }

  #string(i: number): number {
    const text = this.#text;
    const seq = this.#sequence(i);
    if (seq >= 0) return seq;
    const c = text[i];
    if (c === '"') {
      this.#emit(T.CQuote, i, i + 1);
      this.#return();
      return i + 1;
    }
    const not = this.#templateNot(i);
    if (not > 0) {
      this.#emit(T.QuotedLit, i, i + not);
      return i + not;
    }
    if (c === "\r" || c === "\n") {
      let j = i + 1;
      while (text[j] === "\r" || text[j] === "\n") j++;
      this.#emit(T.QuotedNewline, i, j);
      return j;
    }
    let j = i;
    for (;;) {
      const d = text[j];
      if (d === undefined || d === "$" || d === "%" || d === '"' || d === "\r" || d === "\n") break;
      if (d === "\\") {
        const e = text[j + 1];
        if (e === undefined || e === "\r" || e === "\n") break;
        j += 1 + this.#char(j + 1).length;
      } else j++;
    }
    if (j === i) {
      // A backslash with nothing to escape (end of line or file): not a string character.
      const ch = this.#char(i);
      this.#emit(T.Invalid, i, i + ch.length);
      return i + ch.length;
    }
    this.#emit(T.QuotedLit, i, j);
    return j;
  }

  #heredoc(i: number): number {
    const text = this.#text;
    const seq = this.#sequence(i);
    if (seq >= 0) return seq;
    let j = i + this.#templateNot(i);
    if (j === i) {
      while (j < text.length && !"$%\r\n".includes(text[j])) j++;
    }
    const doc = this.#heredocs[this.#heredocs.length - 1];
    const eol = text[j] === "\n" ? j + 1 : text[j] === "\r" && text[j + 1] === "\n" ? j + 2 : -1;
    if (eol < 0) {
      if (j === i) return j < text.length ? -1 : j;
      doc.startOfLine = false;
      this.#emit(T.StringLit, i, j);
      return j;
    }
    if (doc.startOfLine && trimGoSpace(text.slice(i, eol)) === doc.marker) {
      // The marker and its newline are two tokens, so the newline still ends the attribute.
      this.#emit(T.CHeredoc, i, j);
      this.#emit(T.Newline, j, eol);
      this.#heredocs.pop();
      this.#return();
      return eol;
    }
    doc.startOfLine = true;
    this.#emit(T.StringLit, i, eol);
    return eol;
  }
}
