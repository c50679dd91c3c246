/**
 * The literal-shape scanner as it was written first, a character at a time, kept as the
 * reference `literalShape`'s faster scan must agree with on every text (`_literal_shape_test.ts`).
 *
 * @module
 */

import {
  blockCommentEnd,
  CLASSES,
  DIGIT,
  IDENT_START,
  isDigit,
  isIdentChar,
  isUnread,
  MARK,
  numberEnd,
  numberKind,
  PLAIN,
  quotedEnd,
  UNREAD,
} from "./_literal_shape.ts";

/** `literalShape`, one character at a time. */
export function literalShapeByCharacter(sql: string): string | null {
  let out = "";
  let from = 0; // Start of the text not yet copied to `out`.
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c >= 128) return null;
    const cls = CLASSES[c];
    if ((cls & PLAIN) !== 0) {
      i++;
      continue;
    }
    if ((cls & IDENT_START) !== 0) {
      while (i < n && isIdentChar(sql.charCodeAt(i))) i++;
      continue;
    }
    if ((cls & UNREAD) !== 0) return null;
    if ((cls & DIGIT) !== 0) {
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
            const k = sql.charCodeAt(i);
            if (isUnread(k)) return null;
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
      case 36: { // $: a parameter ($1) is kept; anything else may open a dollar quote.
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        if (j === i + 1 || (j < n && isIdentChar(sql.charCodeAt(j)))) return null;
        i = j;
        continue;
      }
      case 46: // .
        if (isDigit(sql.charCodeAt(i + 1))) return null; // .5
        break;
      case 92: // \
        return null;
    }
    i++;
  }
  return from === 0 ? sql : out + sql.slice(from);
}
