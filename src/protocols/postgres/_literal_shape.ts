/**
 * The shape of a SQL text with its literals blanked: the text itself, with every string and
 * number constant replaced by a marker for its kind. Two texts of the same shape differ only in
 * constant values, so PostgreSQL's lexer gives them the same token types in the same order and
 * the parser the same tree apart from those values; statement facts never read a constant's
 * value (`_sql_walk.ts` reads identifiers, node types and flags), so texts of one shape have one
 * set of facts. That is what lets `SqlAnalyzer` parse `... WHERE aid = 1` once and reuse the
 * facts for `aid = 2`, the common case for agents and drivers that inline values.
 *
 * The scanner is deliberately partial: wherever its reading of the text could differ from
 * PostgreSQL's, or a literal's value could change how the text tokenises, it returns `null`
 * and the caller parses the text in full. That covers dollar quoting, E'', B'', X'', N'', U&''
 * and U&"" (whose UESCAPE is a string that changes what the identifier is), backslashes outside
 * standard strings, numbers written unlike plain decimal (`0x1F`, `1_000`, `.5`, `1abc`),
 * non-ASCII text and control characters. Whitespace and comments are kept as they are, so
 * string continuation (`'a'` newline `'b'`) is the same in both texts.
 *
 * @module
 */

/** Marks a blanked constant; control characters never survive into a shape otherwise. */
export const MARK = "\u0001";
/** Largest integer PostgreSQL lexes as an integer constant; larger ones are numeric. */
const INT4_MAX = "2147483647";

/** Character classes of the ASCII range, one bit each, so a test is one table load. */
export const IDENT_START = 1;
export const DIGIT = 2;
export const IDENT_CHAR = 4;
/** DEL, or a control character other than tab, newline, form feed and carriage return. */
export const UNREAD = 8;
/** Read as itself whatever follows: whitespace and operators that start no comment or literal. */
export const PLAIN = 16;
/** Characters that may start a comment, a quoted token, a parameter or a number: `'"-/$.\`. */
const SPECIAL = [39, 34, 45, 47, 36, 46, 92];

/** Exported with the helpers below for `_literal_shape_testing.ts`'s reference scanner. */
export const CLASSES = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    const identStart = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95; // a-z A-Z _
    const digit = c >= 48 && c <= 57;
    if (identStart) t[c] |= IDENT_START;
    if (digit) t[c] |= DIGIT;
    if (identStart || digit || c === 36) t[c] |= IDENT_CHAR; // $
    const unread = c === 127 || (c < 32 && c !== 9 && c !== 10 && c !== 12 && c !== 13);
    if (unread) t[c] |= UNREAD;
    else if (!identStart && !digit && c !== 36 && !SPECIAL.includes(c)) t[c] |= PLAIN;
  }
  return t;
})();

// `charCodeAt` past the end is NaN: every test below is false for it, as for any non-class.
export function isDigit(c: number): boolean {
  return c < 128 && (CLASSES[c] & DIGIT) !== 0;
}

export function isIdentChar(c: number): boolean {
  return c < 128 && (CLASSES[c] & IDENT_CHAR) !== 0;
}

/**
 * Non-ASCII, DEL, or a control character other than tab, newline, form feed and carriage
 * return: text the scanner does not read (the caller parses it in full).
 */
export function isUnread(c: number): boolean {
  return c >= 128 || (CLASSES[c] & UNREAD) !== 0;
}

/**
 * `sql` with each constant replaced by a kind marker, or `null` when the text holds anything
 * the scanner does not read exactly like PostgreSQL does.
 *
 * @example
 * ```ts
 * literalShape("select * from t where id = 42 and name = 'bob'");
 * // "select * from t where id = \u0001i and name = \u0001s"
 * literalShape("select $$x$$"); // null
 * ```
 */
export function literalShape(sql: string): string | null {
  let out = "";
  let from = 0; // Start of the text not yet copied to `out`.
  let i = 0;
  const n = sql.length;
  while (i < n) {
    SKIP.lastIndex = i;
    SKIP.test(sql);
    i = SKIP.lastIndex;
    if (i >= n) break;
    const c = sql.charCodeAt(i);
    if (c >= 128) return null;
    const cls = CLASSES[c];
    if ((cls & UNREAD) !== 0) return null;
    if ((cls & IDENT_CHAR) !== 0) { // A digit or `$`: SKIP stops at both.
      const prev = i > 0 ? sql.charCodeAt(i - 1) : 32;
      if (isIdentChar(prev)) {
        // Inside an identifier (a number is never followed by one): the rest of it.
        while (i < n && isIdentChar(sql.charCodeAt(i))) i++;
        continue;
      }
      if (c === 36) { // $: a parameter ($1) is kept; anything else may open a dollar quote.
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        if (j === i + 1 || (j < n && isIdentChar(sql.charCodeAt(j)))) return null;
        i = j;
        continue;
      }
      // `.5`: the dot was passed over as an operator, but opens a number.
      if (prev === 46) return null;
      const end = numberEnd(sql, i);
      if (end < 0) return null;
      out += sql.slice(from, i) + MARK + numberKind(sql.slice(i, end));
      i = from = end;
      continue;
    }
    switch (c) {
      case 39: { // '
        const prev = i > 0 ? sql.charCodeAt(i - 1) : 32;
        // E'', B'', X'', N'' (an identifier character right before) and U&'' read differently.
        if (isIdentChar(prev) || prev === 38) return null;
        const end = quotedEnd(sql, i);
        if (end < 0) return null;
        out += sql.slice(from, i) + MARK + "s";
        i = from = end;
        continue;
      }
      case 34: { // "
        if (i > 0 && sql.charCodeAt(i - 1) === 38) return null; // U&"…" UESCAPE '…'
        const end = quotedEnd(sql, i);
        if (end < 0) return null;
        i = end;
        continue;
      }
      case 45: // -
        if (sql.charCodeAt(i + 1) === 45) {
          while (i < n && sql.charCodeAt(i) !== 10 && sql.charCodeAt(i) !== 13) {
            if (isUnread(sql.charCodeAt(i))) return null;
            i++;
          }
          continue;
        }
        break;
      case 47: // /
        if (sql.charCodeAt(i + 1) === 42) {
          const end = blockCommentEnd(sql, i);
          if (end < 0) return null;
          i = end;
          continue;
        }
        break;
      case 92: // \
        return null;
    }
    i++;
  }
  return from === 0 ? sql : out + sql.slice(from);
}

/**
 * What the scanner passes over in one native scan, as many as follow one another: letters, `_`,
 * whitespace, `.` and the operator characters that open nothing. It stops at digits and `$`
 * (inside an identifier they are read as part of it), quotes, `-` and `/` (a comment may open),
 * `\`, controls and non-ASCII. A `.` passed over that opens a number (`.5`) is caught at the
 * digit after it. Measured on the bench's 229-character join: 0.50–0.55 µs a character at a
 * time, 0.13 µs for this scan alone.
 */
const SKIP = /[A-Za-z_.\t\n\f\r !#%&()*+,:;<=>?@[\]^`{|}~]*/y;

/** End of a plain decimal number starting at `i`, or -1 when it is written any other way. */
export function numberEnd(sql: string, i: number): number {
  const n = sql.length;
  while (i < n && isDigit(sql.charCodeAt(i))) i++;
  if (sql.charCodeAt(i) === 46) { // .
    if (!isDigit(sql.charCodeAt(i + 1))) return -1; // `1.` and `1..` lex in ways best left alone
    i++;
    while (i < n && isDigit(sql.charCodeAt(i))) i++;
  }
  const e = sql.charCodeAt(i);
  if (e === 101 || e === 69) { // e E
    i++;
    const sign = sql.charCodeAt(i);
    if (sign === 43 || sign === 45) i++;
    if (!isDigit(sql.charCodeAt(i))) return -1;
    while (i < n && isDigit(sql.charCodeAt(i))) i++;
  }
  if (i < n) {
    const next = sql.charCodeAt(i);
    // 0x1F, 1_000, 12abc, 1.2.3, 1'x' and 1"x" are junk, other bases or other tokens.
    if (isIdentChar(next) || next === 46 || next === 39 || next === 34) return -1;
  }
  return i;
}

/** `i` for an integer PostgreSQL lexes as int4, `f` for a numeric constant. */
export function numberKind(text: string): "i" | "f" {
  let zeros = 0; // Leading zeros, keeping the last digit.
  for (let i = 0; i < text.length; i++) {
    if (!isDigit(text.charCodeAt(i))) return "f"; // A fraction or an exponent.
    if (zeros === i && i < text.length - 1 && text.charCodeAt(i) === 48) zeros++;
  }
  const digits = text.length - zeros;
  if (digits !== INT4_MAX.length) return digits < INT4_MAX.length ? "i" : "f";
  return text.slice(zeros) <= INT4_MAX ? "i" : "f";
}

/**
 * End of a string (`'`) or quoted identifier (`"`) opened at `i`, the quote doubled inside, or -1
 * when it is not closed or holds what the scanner does not read: a backslash in a string is
 * plain text only while standard_conforming_strings is on.
 */
export function quotedEnd(sql: string, i: number): number {
  const quote = sql.charCodeAt(i);
  const n = sql.length;
  for (let j = i + 1; j < n; j++) {
    const c = sql.charCodeAt(j);
    if (isUnread(c)) return -1;
    if (c === 92 && quote === 39) return -1;
    if (c === quote) {
      if (sql.charCodeAt(j + 1) === quote) {
        j++;
        continue;
      }
      return j + 1;
    }
  }
  return -1;
}

/** End of a block comment opened at `i`; they nest in PostgreSQL. -1 when not closed. */
export function blockCommentEnd(sql: string, i: number): number {
  const n = sql.length;
  let depth = 0;
  let j = i;
  while (j < n) {
    const c = sql.charCodeAt(j);
    if (isUnread(c)) return -1;
    if (c === 47 && sql.charCodeAt(j + 1) === 42) {
      depth++;
      j += 2;
    } else if (c === 42 && sql.charCodeAt(j + 1) === 47) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return -1;
}
