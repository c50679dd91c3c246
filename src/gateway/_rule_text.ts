/**
 * Reading HCL text as text, for the dashboard's edits: where in a rule block its
 * `mode = "observe"` line is, so promoting a rule changes that one line and keeps the operator's
 * comments and layout.
 *
 * @module
 */

const MODE_OBSERVE = /^\s*mode\s*=\s*"observe"\s*(?:(?:#|\/\/).*)?$/;

/**
 * The index (0-based) of the line holding `mode = "observe"` directly in the block that starts
 * on line `blockLine` (1-based), or `null` when there is none on a line of its own (then the
 * operator edits the file). Strings, comments and heredocs are skipped, so a `mode = "observe"`
 * inside a condition string or a nested block is never taken for the rule's own.
 *
 * @example
 * ```ts
 * observeModeLine('rule "r" {\n  mode = "observe"\n}\n', 1); // 1
 * ```
 */
export function observeModeLine(text: string, blockLine: number): number | null {
  const lines = text.split("\n");
  let depth = 0;
  let opened = false;
  let inString = false;
  let inBlockComment = false;
  let heredoc: string | null = null;
  for (let i = blockLine - 1; i < lines.length; i++) {
    const line = lines[i];
    if (heredoc !== null) {
      if (line.trim() === heredoc) heredoc = null;
      continue;
    }
    if (opened && depth === 1 && !inString && !inBlockComment && MODE_OBSERVE.test(line)) {
      return i;
    }
    for (let c = 0; c < line.length; c++) {
      const ch = line[c];
      if (inBlockComment) {
        if (ch === "*" && line[c + 1] === "/") {
          inBlockComment = false;
          c++;
        }
        continue;
      }
      if (inString) {
        if (ch === "\\") c++;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === "#" || (ch === "/" && line[c + 1] === "/")) break;
      else if (ch === "/" && line[c + 1] === "*") {
        inBlockComment = true;
        c++;
      } else if (ch === "<" && line[c + 1] === "<") {
        const marker = /^<<-?([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(line.slice(c));
        if (marker) {
          heredoc = marker[1];
          break;
        }
      } else if (ch === "{") {
        depth++;
        opened = true;
      } else if (ch === "}") {
        depth--;
        if (opened && depth === 0) return null;
      }
    }
  }
  return null;
}
