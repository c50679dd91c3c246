/**
 * HTML built by a tagged template that escapes every interpolated value unless it is already
 * {@linkcode Html}: agent-controlled text (paths, headers, SQL, bodies, agent names) can only
 * reach a page as text, never as markup.
 *
 * @module
 */

/** A fragment of markup that is safe to insert as is: only {@linkcode html} makes one. */
export class Html {
  readonly #text: string;
  private constructor(text: string) {
    this.#text = text;
  }
  /** Only this module's template creates fragments. */
  static trusted(text: string): Html {
    return new Html(text);
  }
  toString(): string {
    return this.#text;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for element content and quoted attribute values.
 *
 * @example
 * ```ts
 * escapeHtml("<script>"); // "&lt;script&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return "";
  if (part instanceof Html) return part.toString();
  if (Array.isArray(part)) return part.map(render).join("");
  return escapeHtml(String(part));
}

/**
 * The template tag: literal parts are markup, interpolations are escaped (lists are joined,
 * `null`/`undefined`/`false` render as nothing).
 *
 * @example
 * ```ts
 * html`<td>${receipt.summary}</td>`; // the summary as text, whatever it holds
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0];
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1];
  });
  return Html.trusted(out);
}
