/**
 * The token reader under the HCL parser: hclsyntax's peeker (comments skipped, newlines skipped
 * or not as the parser asks) and its error recovery, which decides where parsing resumes after a
 * mistake and so which later problems are reported.
 *
 * @module
 */

import {
  type Diag,
  HclUnsupported,
  type Range,
  T,
  type Token,
  type TokenType,
} from "./_hcl_token.ts";

/**
 * How deep blocks, expressions and template directives may nest. hcl2json's Go stack gives out
 * somewhere past 1,200 levels and JavaScript's sooner; far below both, a file either parses the
 * same in both or fails here.
 */
export const MAX_DEPTH = 200;

export function rangeBetween(a: Range, b: Range): Range {
  return { start: a.start, end: b.end };
}

export abstract class Peeker {
  readonly file: string;
  readonly text: string;
  readonly tokens: Token[];
  #next = 0;
  readonly #newlines: boolean[] = [true];
  /** Set once any recovery is attempted: later "bad token" problems are then left unsaid. */
  recovery = false;
  #depth = 0;

  constructor(file: string, text: string, tokens: Token[]) {
    this.file = file;
    this.text = text;
    this.tokens = tokens;
  }

  #nextToken(): [Token, number] {
    const include = this.#newlines[this.#newlines.length - 1];
    const tokens = this.tokens;
    for (let i = this.#next; i < tokens.length; i++) {
      const tok = tokens[i];
      if (tok.type === T.Comment) {
        // A line comment holds the newline ending it, which still ends the line's item.
        if (include && this.text[tok.range.end.off - 1] === "\n") {
          return [{ type: T.Newline, range: tok.range }, i + 1];
        }
        continue;
      }
      if (tok.type === T.Newline && !include) continue;
      return [tok, i + 1];
    }
    return [tokens[tokens.length - 1], tokens.length];
  }

  /** Runs one nested parsing step, refusing nesting past {@linkcode MAX_DEPTH}. */
  nested<R>(step: () => R): R {
    if (++this.#depth > MAX_DEPTH) {
      throw new HclUnsupported(
        this.peek().range.start,
        "blocks and expressions nested this deeply",
      );
    }
    try {
      return step();
    } finally {
      this.#depth--;
    }
  }

  peek(): Token {
    return this.#nextToken()[0];
  }

  read(): Token {
    const [tok, next] = this.#nextToken();
    this.#next = next;
    return tok;
  }

  nextRange(): Range {
    return this.peek().range;
  }

  prevRange(): Range {
    return this.#next === 0 ? this.nextRange() : this.tokens[this.#next - 1].range;
  }

  pushNewlines(include: boolean): void {
    this.#newlines.push(include);
  }

  popNewlines(): void {
    this.#newlines.pop();
  }

  /** Source text of a token. */
  bytes(tok: Token): string {
    return this.text.slice(tok.range.start.off, tok.range.end.off);
  }

  /** Reads on to the token `end`, past nested pairs of its brackets, and returns it (or EOF). */
  recover(end: TokenType): Token {
    const start = opposite(end);
    this.recovery = true;
    let nest = 0;
    for (;;) {
      const tok = this.read();
      let type = tok.type;
      if (end === T.TemplateSeqEnd && type === T.TemplateControl) type = T.TemplateInterp;
      if (type === start) nest++;
      else if (type === end) {
        if (nest < 1) return tok;
        nest--;
      } else if (type === T.EOF) return tok;
    }
  }

  /** Reads to the next `start` bracket, then past its matching end. */
  recoverOver(start: TokenType): void {
    for (;;) {
      const type = this.read().type;
      if (type === start || type === T.EOF) break;
    }
    this.recover(opposite(start));
  }

  /** Reads past the newline ending the current body item, outside any brackets. */
  recoverAfterBodyItem(): void {
    this.recovery = true;
    const open: TokenType[] = [];
    for (;;) {
      const type = this.read().type;
      if (type === T.Newline) {
        if (open.length === 0) return;
      } else if (type === T.EOF) return;
      else if (OPENERS.has(type)) open.push(type);
      else if (CLOSERS.has(type) || type === T.TemplateSeqEnd) {
        const matches = (t: TokenType) =>
          type === T.TemplateSeqEnd
            ? t === T.TemplateInterp || t === T.TemplateControl
            : t === opposite(type);
        while (open.length > 0 && !matches(open[open.length - 1])) open.pop();
        open.pop();
      }
    }
  }
}

const OPENERS = new Set<TokenType>([
  T.OBrace,
  T.OBrack,
  T.OParen,
  T.OQuote,
  T.OHeredoc,
  T.TemplateInterp,
  T.TemplateControl,
]);
const CLOSERS = new Set<TokenType>([T.CBrace, T.CBrack, T.CParen, T.CQuote, T.CHeredoc]);

const PAIRS: [TokenType, TokenType][] = [
  [T.OBrace, T.CBrace],
  [T.OBrack, T.CBrack],
  [T.OParen, T.CParen],
  [T.OQuote, T.CQuote],
  [T.OHeredoc, T.CHeredoc],
];

export function opposite(type: TokenType): TokenType {
  for (const [o, c] of PAIRS) {
    if (type === o) return c;
    if (type === c) return o;
  }
  if (type === T.TemplateControl || type === T.TemplateInterp) return T.TemplateSeqEnd;
  if (type === T.TemplateSeqEnd) return T.TemplateInterp;
  return T.Nil;
}

const CURLY = "Curly quotes";

/** Problems with tokens that never belong in HCL, reported before any parse problem. */
export function checkInvalidTokens(text: string, tokens: Token[]): Diag[] {
  const diags: Diag[] = [];
  let bitwise = 0;
  let backtick = 0;
  let apostrophe = 0;
  let semicolon = 0;
  const add = (tok: Token, summary: string, detail: string) =>
    diags.push({ summary, detail, subject: tok.range });
  for (const tok of tokens) {
    switch (tok.type) {
      case T.BitwiseAnd:
      case T.BitwiseOr:
      case T.BitwiseXor:
      case T.BitwiseNot:
        if (bitwise < 4) {
          const hint = tok.type === T.BitwiseAnd
            ? ' Did you mean boolean AND ("&&")?'
            : tok.type === T.BitwiseOr
            ? ' Did you mean boolean OR ("||")?'
            : tok.type === T.BitwiseNot
            ? ' Did you mean boolean NOT ("!")?'
            : "";
          add(tok, "Unsupported operator", `Bitwise operators are not supported.${hint}`);
          bitwise++;
        }
        break;
      case T.Backtick:
        if (backtick % 2 === 0) {
          add(
            tok,
            "Invalid character",
            'The "`" character is not valid. To create a multi-line string, use the "heredoc" ' +
              'syntax, like "<<EOT".',
          );
        }
        if (backtick <= 2) backtick++;
        break;
      case T.Apostrophe:
        if (apostrophe % 2 === 0) {
          add(
            tok,
            "Invalid character",
            'Single quotes are not valid. Use double quotes (") to enclose strings.',
          );
        }
        if (apostrophe <= 2) apostrophe++;
        break;
      case T.Semicolon:
        if (semicolon < 1) {
          add(
            tok,
            "Invalid character",
            'The ";" character is not valid. Use newlines to separate arguments and blocks, and ' +
              "commas to separate items in collection values.",
          );
          semicolon++;
        }
        break;
      case T.QuotedNewline:
        add(
          tok,
          "Invalid multi-line string",
          "Quoted strings may not be split over multiple lines. To produce a multi-line string, " +
            'either use the \\n escape to represent a newline character or use the "heredoc" ' +
            "multi-line template syntax.",
        );
        break;
      case T.Invalid: {
        const chars = text.slice(tok.range.start.off, tok.range.end.off);
        add(
          tok,
          "Invalid character",
          chars === "\u201c" || chars === "\u201d"
            ? `"${CURLY}" are not valid here. These can sometimes be inadvertently introduced ` +
              "when sharing code via documents or discussion forums. It might help to replace " +
              'the character with a "straight quote".'
            : "This character is not used within the language.",
        );
        break;
      }
    }
  }
  return diags;
}
