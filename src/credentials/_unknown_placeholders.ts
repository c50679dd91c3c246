/**
 * Placeholder-shaped text that names no credential: `{{…}}` an agent sent expecting the gateway
 * to swap a secret in, where no configured placeholder matches (a typo, a credential removed or
 * never configured). Left alone it would reach the upstream as is.
 *
 * @module
 */

import { percentDecode, type PlaceholderMatch } from "./_placeholders.ts";

/**
 * The shape of the default placeholder `{{NAME}}`, within the bounds config puts on any
 * placeholder (6 to 200 printable characters without spaces): `{{`, 2 to 196 printable ASCII
 * characters other than braces, `}}`. Template text with spaces (`{{ .Values.x }}`) is not
 * placeholder-shaped.
 */
const SHAPE = /\{\{[\x21-\x7a\x7c\x7e]{2,196}\}\}/g;

/**
 * Collects placeholder-shaped texts that no configured placeholder covers, across the places of
 * one request. Each text is reported as the agent meant it (`%XX` decoded where decoding
 * applies), never anything the gateway holds.
 *
 * @example
 * ```ts
 * const unknown = new UnknownPlaceholders();
 * unknown.scan("Bearer {{nope}} {{github_pat}}", [{ start: 16, end: 30, id: 0 }]);
 * unknown.list(); // ["{{nope}}"]
 * ```
 */
export class UnknownPlaceholders {
  #found: Set<string> | null = null;

  /**
   * Records the shaped texts in `s` that overlap none of `known` (configured placeholders found
   * in `s`, raw spans). `decode`: look behind `%XX` escapes too, as for paths, queries and form
   * bodies, where known placeholders are also found encoded.
   */
  scan(s: string, known: readonly PlaceholderMatch[], decode = false): void {
    if (decode && s.includes("%")) {
      const { text, rawIndex } = percentDecode(s);
      this.#find(text, known, rawIndex);
    } else {
      this.#find(s, known, null);
    }
  }

  /** The texts recorded, sorted and unique. */
  list(): string[] {
    return this.#found === null ? [] : [...this.#found].sort();
  }

  /** Shapes in `text`; `rawIndex` maps decoded positions back to those of `known`. */
  #find(text: string, known: readonly PlaceholderMatch[], rawIndex: Uint32Array | null): void {
    // An exec loop, not matchAll: this runs on every header of every request.
    let at = text.indexOf("{{");
    while (at >= 0) {
      // The usual `{{` starts a configured placeholder: skip it without running the pattern.
      const inside = rawIndex === null ? known.find((k) => k.start <= at && at < k.end) : undefined;
      if (inside) {
        at = text.indexOf("{{", inside.end);
        continue;
      }
      SHAPE.lastIndex = at;
      const m = SHAPE.exec(text);
      if (m === null) return;
      const end = m.index + m[0].length;
      const covers = rawIndex === null
        ? covered(m.index, end, known)
        : covered(rawIndex[m.index], rawIndex[end], known);
      if (!covers) (this.#found ??= new Set()).add(m[0]);
      at = text.indexOf("{{", end);
    }
  }
}

/**
 * Whether `[start, end)` overlaps a configured placeholder: the placeholder itself, or a shape
 * inside a longer custom placeholder such as `tok_{{ab}}_x`, is not unknown.
 */
function covered(start: number, end: number, known: readonly PlaceholderMatch[]): boolean {
  for (const k of known) if (start < k.end && k.start < end) return true;
  return false;
}
