/**
 * HCL tokens and source positions, shared by the tokenizer and the parser.
 *
 * Positions follow hcl: lines count `\n` and `\r\n`, columns count grapheme clusters.
 *
 * @module
 */

/** Token types, spelled as hclsyntax spells them (its own characters for each). */
export type TokenType = string;

/** A place in the text: its line and column (from 1) and its UTF-16 offset. */
export interface Pos {
  line: number;
  col: number;
  off: number;
}

export interface Range {
  start: Pos;
  end: Pos;
}

export interface Token {
  type: TokenType;
  range: Range;
}

/** A problem found in the text, as hcl words it. */
export interface Diag {
  summary: string;
  detail: string;
  subject: Range;
}

/** Thrown for syntax hcl2json accepts but this parser does not reproduce: fail closed. */
export class HclUnsupported extends Error {
  readonly at: Pos;

  constructor(at: Pos, what: string) {
    super(`This HCL parser does not support ${what}`);
    this.at = at;
  }
}

export const T = {
  OBrace: "{",
  CBrace: "}",
  OBrack: "[",
  CBrack: "]",
  OParen: "(",
  CParen: ")",
  OQuote: "«",
  CQuote: "»",
  OHeredoc: "H",
  CHeredoc: "h",
  Star: "*",
  Slash: "/",
  Plus: "+",
  Minus: "-",
  Percent: "%",
  Equal: "=",
  EqualOp: "≔",
  NotEqual: "≠",
  LessThan: "<",
  LessThanEq: "≤",
  GreaterThan: ">",
  GreaterThanEq: "≥",
  And: "∧",
  Or: "∨",
  Bang: "!",
  Dot: ".",
  Comma: ",",
  DoubleColon: "⸬",
  Ellipsis: "…",
  FatArrow: "⇒",
  Question: "?",
  Colon: ":",
  TemplateInterp: "∫",
  TemplateControl: "λ",
  TemplateSeqEnd: "∎",
  QuotedLit: "Q",
  StringLit: "S",
  NumberLit: "N",
  Ident: "I",
  Comment: "C",
  Newline: "\n",
  EOF: "␄",
  BitwiseAnd: "&",
  BitwiseOr: "|",
  BitwiseNot: "~",
  BitwiseXor: "^",
  Apostrophe: "'",
  Backtick: "`",
  Semicolon: ";",
  Invalid: "�",
  QuotedNewline: "␤",
  Nil: "\0",
} as const;

const GO_SPACES = new Set(
  "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" +
    "\u2028\u2029\u202f\u205f\u3000",
);

/** Go's `unicode.IsSpace`: what `strings.TrimSpace` and friends trim in hcl. */
export function isGoSpace(c: string): boolean {
  return GO_SPACES.has(c);
}

let segmenter: Intl.Segmenter | undefined;

/** The end of a token starting at `from`: lines and grapheme-cluster columns, as hcl counts. */
export function advance(text: string, from: Pos, end: number): Pos {
  let { line, col } = from;
  const piece = text.slice(from.off, end);
  if (/^\p{ASCII}*$/u.test(piece)) {
    for (let i = 0; i < piece.length; i++) {
      const c = piece[i];
      if (c === "\n") {
        line++;
        col = 1;
      } else if (!(c === "\r" && piece[i + 1] === "\n")) col++;
    }
  } else {
    segmenter ??= new Intl.Segmenter("en", { granularity: "grapheme" });
    for (const { segment } of segmenter.segment(piece)) {
      if (segment === "\n" || segment === "\r\n") {
        line++;
        col = 1;
      } else col++;
    }
  }
  return { line, col, off: end };
}

/** Go's `strings.TrimSpace`. */
export function trimGoSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isGoSpace(s[a])) a++;
  while (b > a && isGoSpace(s[b - 1])) b--;
  return s.slice(a, b);
}
