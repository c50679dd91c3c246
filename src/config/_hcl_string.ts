/**
 * The text of one literal token of a string or heredoc, with its escapes resolved as hclsyntax's
 * `ParseStringLiteralToken` resolves them, and its problems placed where hcl places them.
 *
 * @module
 */

import { goQuote } from "./_hcl_ast.ts";
import { advance, type Diag, type Pos, T, type Token } from "./_hcl_token.ts";

/**
 * The pieces hcl resolves one at a time: escapes (`\n`, `\u00e9`), template escapes (`$`, `$$`,
 * `$${`, and `%` likewise), newlines, and the literal runs between them.
 */
function slices(s: string, quoted: boolean): string[] {
  const out: string[] = [];
  let run = 0;
  let i = 0;
  const cut = (end: number) => {
    if (run < i) out.push(s.slice(run, i));
    out.push(s.slice(i, end));
    i = run = end;
  };
  while (i < s.length) {
    const c = s[i];
    if (quoted && c === "\\") {
      const sel = s[i + 1];
      if (sel === "u" || sel === "U") {
        let j = i + 2;
        const max = j + (sel === "u" ? 4 : 8);
        while (j < max && /[0-9a-fA-F]/.test(s[j] ?? "")) j++;
        cut(j);
      } else if (sel === undefined) cut(i + 1);
      else cut(i + 1 + String.fromCodePoint(s.codePointAt(i + 1)!).length);
    } else if (c === "$" || c === "%") {
      let j = i + 1;
      if (s[j] === c) {
        j++;
        if (s[j] === "{") j++;
      }
      cut(j);
    } else if (c === "\r" || c === "\n") cut(c === "\r" && s[i + 1] === "\n" ? i + 2 : i + 1);
    else i++;
  }
  if (run < i) out.push(s.slice(run, i));
  return out;
}

const SIMPLE: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };

/** A quoted (`QuotedLit`, with backslash escapes) or heredoc (`StringLit`) token's value. */
export function unescapeString(text: string, tok: Token): [string, Diag[]] {
  const quoted = tok.type === T.QuotedLit;
  const diags: Diag[] = [];
  let out = "";
  let pos: Pos = tok.range.start;
  for (const slice of slices(text.slice(tok.range.start.off, tok.range.end.off), quoted)) {
    const start = pos;
    pos = advance(text, pos, pos.off + slice.length);
    const fail = (detail: string) =>
      diags.push({ summary: "Invalid escape sequence", detail, subject: { start, end: pos } });
    if (quoted && slice[0] === "\\") {
      if (slice.length < 2) {
        fail("Backslash must be followed by an escape sequence selector character.");
        out += slice;
        continue;
      }
      const sel = slice[1];
      if (sel in SIMPLE) {
        out += SIMPLE[sel];
        continue;
      }
      if (sel === "u" || sel === "U") {
        if (slice.length !== (sel === "u" ? 6 : 10)) {
          fail(
            sel === "u"
              ? "The \\u escape sequence must be followed by four hexadecimal digits."
              : "The \\U escape sequence must be followed by eight hexadecimal digits.",
          );
          out += slice;
          continue;
        }
        const code = parseInt(slice.slice(2), 16);
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
          fail(`Cannot encode character U+${code.toString(16).padStart(4, "0")} in UTF-8.`);
          out += slice;
          continue;
        }
        out += String.fromCodePoint(code);
        continue;
      }
      fail(`The symbol ${goQuote(slice.slice(1))} is not a valid escape sequence selector.`);
      out += slice.slice(1);
      continue;
    }
    if ((slice[0] === "$" || slice[0] === "%") && slice.length === 3 && slice[1] === slice[0]) {
      out += slice[0] + "{";
      continue;
    }
    out += slice;
  }
  return [out, diags];
}
