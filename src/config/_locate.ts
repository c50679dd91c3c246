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
  const index: LineIndex = { blocks: new Map(), attributes: new Map(), topBlocks: [] };
  const stack: Frame[] = [{ path: [], occurrence: 0 }];
  let i = 0;
  let line = 1;
  // Words seen since the start of the current statement: identifiers and quoted labels.
  let words: string[] = [];
  let statementLine = 1;

  const skipString = () => {
    // i is at the opening quote. Templates may nest braces and strings.
    i++;
    while (i < text.length) {
      const c = text[i];
      if (c === "\\") {
        i += 2;
        continue;
      }
      if (c === "\n") line++;
      if (c === '"') {
        i++;
        return;
      }
      // `$${` and `%%{` are escapes for a literal `${` / `%{`, not template openings.
      if ((c === "$" || c === "%") && text[i + 1] === c && text[i + 2] === "{") {
        i += 3;
        continue;
      }
      if ((c === "$" || c === "%") && text[i + 1] === "{") {
        i += 2;
        skipNested();
        continue;
      }
      i++;
    }
  };

  const skipNested = () => {
    // Skips to the matching close bracket, honouring strings, heredocs, comments (a quote or
    // bracket in a comment inside a multi-line list must not count) and inner brackets.
    let depth = 1;
    while (i < text.length && depth > 0) {
      const c = text[i];
      if (c === '"') {
        skipString();
        continue;
      }
      if (skipComment()) continue;
      if (c === "<" && text[i + 1] === "<" && skipHeredoc()) continue;
      if (c === "\n") line++;
      if (c === "{" || c === "[" || c === "(") depth++;
      else if (c === "}" || c === "]" || c === ")") depth--;
      i++;
    }
  };

  // Skips a line or block comment at `i`; false when there is none.
  const skipComment = (): boolean => {
    if (text[i] === "#" || (text[i] === "/" && text[i + 1] === "/")) skipLineComment();
    else if (text[i] === "/" && text[i + 1] === "*") skipBlockComment();
    else return false;
    return true;
  };

  const skipLineComment = () => {
    // Stops at the newline so the caller counts it.
    const end = text.indexOf("\n", i);
    i = end === -1 ? text.length : end;
  };

  const skipHeredoc = (): boolean => {
    const m = /^<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n/.exec(text.slice(i, i + 200));
    if (!m) return false;
    const marker = m[1];
    i += m[0].length;
    line++;
    while (i < text.length) {
      const end = text.indexOf("\n", i);
      const row = text.slice(i, end === -1 ? text.length : end);
      if (row.trim() === marker) {
        // Stop at the newline ending the marker line: the caller counts it.
        i = end === -1 ? text.length : end;
        return true;
      }
      i = end === -1 ? text.length : end + 1;
      line++;
    }
    return true;
  };

  const skipExpression = () => {
    // After `=`: skip to the end of the line, across any bracketed multi-line value.
    while (i < text.length) {
      const c = text[i];
      // A newline ends the value; so does the `}` closing a one-line block.
      if (c === "\n" || c === "}") return;
      if (c === '"') skipString();
      else if (c === "<" && text[i + 1] === "<" && skipHeredoc()) return;
      else if (c === "{" || c === "[" || c === "(") {
        i++;
        skipNested();
      } else if (c === "#" || (c === "/" && text[i + 1] === "/")) return;
      else if (c === "/" && text[i + 1] === "*") skipBlockComment();
      else i++;
    }
  };

  const skipBlockComment = () => {
    const end = text.indexOf("*/", i + 2);
    const stop = end === -1 ? text.length : end + 2;
    for (let k = i; k < stop; k++) if (text[k] === "\n") line++;
    i = stop;
  };

  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
      words = [];
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (skipComment()) continue;
    if (words.length === 0) statementLine = line;
    if (c === '"') {
      const start = i;
      skipString();
      words.push(safeJson(text.slice(start, i)));
      continue;
    }
    if (c === "=" && text[i + 1] !== "=") {
      const top = stack[stack.length - 1];
      if (words.length === 1) {
        index.attributes.set(attributeKey(top.path, top.occurrence, words[0]), statementLine);
      }
      i++;
      words = [];
      skipExpression();
      continue;
    }
    if (c === "{") {
      const top = stack[stack.length - 1];
      const path = [...top.path, ...words];
      const key = blockKey(path);
      const lines = index.blocks.get(key) ?? [];
      lines.push(statementLine);
      index.blocks.set(key, lines);
      if (stack.length === 1) index.topBlocks.push({ path, line: statementLine });
      stack.push({ path, occurrence: lines.length - 1 });
      words = [];
      i++;
      continue;
    }
    if (c === "}") {
      if (stack.length > 1) stack.pop();
      words = [];
      i++;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(i, i + 256));
    if (ident) {
      words.push(ident[0]);
      i += ident[0].length;
      continue;
    }
    i++;
  }
  return index;
}

function safeJson(quoted: string): string {
  try {
    return JSON.parse(quoted);
  } catch {
    return quoted.slice(1, -1);
  }
}
