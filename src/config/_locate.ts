/**
 * Finds the source line of every block and attribute in an HCL file.
 *
 * hcl2json returns values without positions, so validation errors would have no line. This
 * scanner walks the same text with just enough of HCL's native syntax (strings with `${}`
 * templates, heredocs, comments, nested brackets) to know where each block header and each
 * attribute starts. It never decides what the config means; hcl2json does that.
 *
 * @module
 */

/** Lines of blocks and attributes, keyed by their path (see {@linkcode blockKey}). */
export interface LineIndex {
  /** Header line of the n-th block with this key (same labels may repeat: duplicates). */
  blocks: Map<string, number[]>;
  /** Line of an attribute, keyed by `blockKey + "#" + occurrence + "." + name`. */
  attributes: Map<string, number>;
  /** Every top-level block header in file order: its type and labels, and its line. */
  topBlocks: { path: string[]; line: number }[];
}

/** Key for a block path such as `["rule", "pg-no-ddl"]` or `["gateway", "limits"]`. */
export function blockKey(path: readonly string[]): string {
  return path.join("\u0000");
}

/** Key for an attribute inside the `occurrence`-th block at `path` (top level: path `[]`). */
export function attributeKey(path: readonly string[], occurrence: number, name: string): string {
  return `${blockKey(path)}#${occurrence}.${name}`;
}

/**
 * First header line, at or after `after`, of a block at `path` or below it (`path` may stop short
 * of the labels: `["listener"]` finds `listener "x" { … }`).
 */
export function firstBlockLine(
  index: LineIndex,
  path: readonly string[],
  after = 0,
): number | undefined {
  const key = blockKey(path);
  let best: number | undefined;
  for (const [k, lines] of index.blocks) {
    if (k !== key && !k.startsWith(key + "\u0000")) continue;
    for (const line of lines) {
      if (line >= after && (best === undefined || line < best)) best = line;
    }
  }
  return best;
}

interface Frame {
  path: string[];
  occurrence: number;
}

/** Scans HCL text and indexes the line of each block header and attribute. */
export function indexLines(text: string): LineIndex {
  const scanner = new LineScanner(text);
  scanner.scan();
  return scanner.index;
}

/**
 * One pass over a file's text. `i` is the read position and `line` its line; each `skip…`
 * method moves both past one syntactic element, counting the newlines it crosses.
 */
class LineScanner {
  readonly index: LineIndex = { blocks: new Map(), attributes: new Map(), topBlocks: [] };
  readonly #text: string;
  readonly #stack: Frame[] = [{ path: [], occurrence: 0 }];
  #i = 0;
  #line = 1;
  /** Words seen since the start of the current statement: identifiers and quoted labels. */
  #words: string[] = [];
  #statementLine = 1;

  constructor(text: string) {
    this.#text = text;
  }

  scan(): void {
    while (this.#i < this.#text.length) this.#step();
  }

  /** Reads one token of a statement: a word, a label, `=`, `{` or `}`. */
  #step(): void {
    const text = this.#text;
    const c = text[this.#i];
    if (c === "\n") {
      this.#line++;
      this.#i++;
      this.#words = [];
      return;
    }
    if (c === " " || c === "\t" || c === "\r") {
      this.#i++;
      return;
    }
    if (this.#skipComment()) return;
    if (this.#words.length === 0) this.#statementLine = this.#line;
    if (c === '"') {
      const start = this.#i;
      this.#skipString();
      this.#words.push(safeJson(text.slice(start, this.#i)));
    } else if (c === "=" && text[this.#i + 1] !== "=") {
      this.#attribute();
    } else if (c === "{") {
      this.#openBlock();
    } else if (c === "}") {
      if (this.#stack.length > 1) this.#stack.pop();
      this.#words = [];
      this.#i++;
    } else {
      const ident = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(this.#i, this.#i + 256));
      this.#words.push(...(ident ? [ident[0]] : []));
      this.#i += ident ? ident[0].length : 1;
    }
  }

  /** At `=`: records `name = …` (one word before it) and skips the value. */
  #attribute(): void {
    const top = this.#stack[this.#stack.length - 1];
    if (this.#words.length === 1) {
      this.index.attributes.set(
        attributeKey(top.path, top.occurrence, this.#words[0]),
        this.#statementLine,
      );
    }
    this.#i++;
    this.#words = [];
    this.#skipExpression();
  }

  /** At `{`: records the block header the words before it make, and enters the block. */
  #openBlock(): void {
    const top = this.#stack[this.#stack.length - 1];
    const path = [...top.path, ...this.#words];
    const key = blockKey(path);
    const lines = this.index.blocks.get(key) ?? [];
    lines.push(this.#statementLine);
    this.index.blocks.set(key, lines);
    if (this.#stack.length === 1) this.index.topBlocks.push({ path, line: this.#statementLine });
    this.#stack.push({ path, occurrence: lines.length - 1 });
    this.#words = [];
    this.#i++;
  }

  /** From the opening quote past the closing one. Templates may nest braces and strings. */
  #skipString(): void {
    const text = this.#text;
    this.#i++;
    while (this.#i < text.length) {
      const c = text[this.#i];
      if (c === "\\") {
        this.#i += 2;
        continue;
      }
      if (c === "\n") this.#line++;
      if (c === '"') {
        this.#i++;
        return;
      }
      // `$${` and `%%{` are escapes for a literal `${` / `%{`, not template openings.
      if ((c === "$" || c === "%") && text[this.#i + 1] === c && text[this.#i + 2] === "{") {
        this.#i += 3;
        continue;
      }
      if ((c === "$" || c === "%") && text[this.#i + 1] === "{") {
        this.#i += 2;
        this.#skipNested();
        continue;
      }
      this.#i++;
    }
  }

  /**
   * Skips to the matching close bracket, honouring strings, heredocs, comments (a quote or
   * bracket in a comment inside a multi-line list must not count) and inner brackets.
   */
  #skipNested(): void {
    const text = this.#text;
    let depth = 1;
    while (this.#i < text.length && depth > 0) {
      const c = text[this.#i];
      if (c === '"') {
        this.#skipString();
        continue;
      }
      if (this.#skipComment()) continue;
      if (c === "<" && text[this.#i + 1] === "<" && this.#skipHeredoc()) continue;
      if (c === "\n") this.#line++;
      if (c === "{" || c === "[" || c === "(") depth++;
      else if (c === "}" || c === "]" || c === ")") depth--;
      this.#i++;
    }
  }

  /** Skips a line or block comment at `i`; false when there is none. */
  #skipComment(): boolean {
    const text = this.#text;
    const c = text[this.#i];
    if (c === "#" || (c === "/" && text[this.#i + 1] === "/")) this.#skipLineComment();
    else if (c === "/" && text[this.#i + 1] === "*") this.#skipBlockComment();
    else return false;
    return true;
  }

  /** Stops at the newline so the caller counts it. */
  #skipLineComment(): void {
    const end = this.#text.indexOf("\n", this.#i);
    this.#i = end === -1 ? this.#text.length : end;
  }

  #skipBlockComment(): void {
    const text = this.#text;
    const end = text.indexOf("*/", this.#i + 2);
    const stop = end === -1 ? text.length : end + 2;
    for (let k = this.#i; k < stop; k++) if (text[k] === "\n") this.#line++;
    this.#i = stop;
  }

  /** Skips `<<MARKER … MARKER` (or `<<-`); false, moving nothing, when `<<` starts no heredoc. */
  #skipHeredoc(): boolean {
    const text = this.#text;
    const m = /^<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n/.exec(text.slice(this.#i, this.#i + 200));
    if (!m) return false;
    const marker = m[1];
    this.#i += m[0].length;
    this.#line++;
    while (this.#i < text.length) {
      const end = text.indexOf("\n", this.#i);
      const row = text.slice(this.#i, end === -1 ? text.length : end);
      if (row.trim() === marker) {
        // Stop at the newline ending the marker line: the caller counts it.
        this.#i = end === -1 ? text.length : end;
        return true;
      }
      this.#i = end === -1 ? text.length : end + 1;
      this.#line++;
    }
    return true;
  }

  /** After `=`: skips to the end of the line, across any bracketed multi-line value. */
  #skipExpression(): void {
    const text = this.#text;
    while (this.#i < text.length) {
      const c = text[this.#i];
      // A newline ends the value; so does the `}` closing a one-line block.
      if (c === "\n" || c === "}") return;
      if (c === '"') this.#skipString();
      else if (c === "<" && text[this.#i + 1] === "<" && this.#skipHeredoc()) return;
      else if (c === "{" || c === "[" || c === "(") {
        this.#i++;
        this.#skipNested();
      } else if (c === "#" || (c === "/" && text[this.#i + 1] === "/")) return;
      else if (c === "/" && text[this.#i + 1] === "*") this.#skipBlockComment();
      else this.#i++;
    }
  }
}

function safeJson(quoted: string): string {
  try {
    return JSON.parse(quoted);
  } catch {
    return quoted.slice(1, -1);
  }
}
