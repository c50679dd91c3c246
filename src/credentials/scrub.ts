/**
 * Response scrubbing: the forms in which an upstream could echo a secret back, and a streaming
 * replacer that swaps them for the credential's placeholder before the agent sees them.
 *
 * @module
 */

import { concatBytes, concatShortLived } from "../core/mod.ts";
import type { InjectableCredential } from "./http_inject.ts";
import { latin1 } from "./_placeholders.ts";
import { FormIndex } from "./_scrub_index.ts";
import {
  base64Utf8,
  encodedForms,
  type FormContext,
  htmlEscaped,
  jsonEscaped,
  uriEncoded,
} from "./_scrub_forms.ts";

export { base64Utf8, jsonEscaped };

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * The forms of `secret` that must never reach the agent, each with what replaces it: the raw
 * secret and every encoding an upstream plausibly echoes it in (see {@linkcode encodedForms}:
 * percent-encoded, JSON-escaped, HTML character references, hex, base64/base64url at every
 * alignment, case-folded where safe) and, for `basic_auth`, `base64(username:secret)`. Each is
 * replaced by the placeholder written for the form's context: %-encoded for a %-form,
 * JSON-escaped for a JSON form, HTML-escaped for an HTML form, `base64(username:placeholder)`
 * for a Basic credential, as is otherwise. Longest first; a form equal to an earlier one is left
 * out. An empty secret has no forms (it would match everywhere). Computed once per secret value:
 * callers keep the compiled {@linkcode Scrubber} and build per-response ones from it.
 *
 * @example
 * ```ts
 * const forms = scrubForms(githubPat, "ghp_abc123XYZ");
 * forms.some(([f]) => f === "6768705f616263313233585a5a"); // hex: true
 * forms.find(([f]) => f === "ghp_abc123XYZ")![1]; // "{{github_pat}}"
 * ```
 */
export function scrubForms(
  credential: InjectableCredential,
  secret: string,
): Array<[form: string, replacement: string]> {
  if (secret === "") return [];
  const placeholder = credential.placeholder;
  const forms: Array<[string, string]> = [[secret, placeholder]];
  const seen = new Set([secret]);
  const add = (form: string | null, replacement: string | null) => {
    if (form === null || replacement === null || form === "" || seen.has(form)) return;
    seen.add(form);
    forms.push([form, replacement]);
  };
  if (credential.kind === "basic_auth") {
    const user = credential.username ?? "";
    add(base64Utf8(`${user}:${secret}`), base64Utf8(`${user}:${placeholder}`));
  }
  const replacements: Record<FormContext, string | null> = {
    plain: placeholder,
    percent: uriEncoded(placeholder),
    json: jsonEscaped(placeholder),
    html: htmlEscaped(placeholder),
  };
  for (const [form, context] of encodedForms(secret)) add(form, replacements[context]);
  // Stable: equal lengths keep the order above.
  return forms.sort((a, b) => b[0].length - a[0].length);
}

interface Form {
  /** The form's UTF-8 bytes as a one-character-per-byte string, for searching latin1 text. */
  bytes: string;
  replacement: Uint8Array;
  /** The form and its replacement as JS strings, for {@linkcode Scrubber.text}. */
  text: string;
  textReplacement: string;
}

/**
 * Replaces secret forms in a response streamed in chunks. Forms are matched leftmost-longest on
 * UTF-8 bytes; up to (longest form − 1) bytes are held back between chunks, so a form split
 * across chunks is still caught, and `push()`s followed by `end()` give exactly the bytes one
 * pass over the whole response would.
 *
 * @example
 * ```ts
 * const scrubber = new Scrubber(scrubForms(githubPat, "s3cret"));
 * const a = scrubber.push(new TextEncoder().encode('{"token":"s3'));
 * const b = scrubber.push(new TextEncoder().encode('cret"}'));
 * const c = scrubber.end(); // a + b + c: '{"token":"{{github_pat}}"}'
 * ```
 */
export class Scrubber {
  /** False when there are no forms: `push()` returns its input and callers may skip work. */
  readonly active: boolean;
  readonly #forms: Form[];
  /** The forms' bytes (as latin1 strings), indexed for one-pass matching; ids index `#forms`. */
  readonly #index: FormIndex;
  /** Bytes that might begin a form completed by the next chunk. */
  readonly #holdBytes: number;
  #held: Uint8Array = EMPTY;
  /** String forms for {@linkcode text}, longest first, including UTF-8-as-latin1 variants. */
  readonly #textForms: Array<[string, string]>;
  readonly #textIndex: FormIndex;
  /**
   * Length of the shortest text form: a shorter header value cannot hold one, and most values
   * (dates, ids, content types) are shorter than a secret, so `text` returns them unscanned.
   */
  readonly #shortestText: number;

  /**
   * Compiles `forms`; or, given another scrubber, shares its compiled forms and starts with
   * nothing held (one scrubber per response, forms compiled once per set of secrets).
   */
  constructor(forms: Array<[form: string, replacement: string]> | Scrubber) {
    if (forms instanceof Scrubber) {
      this.#forms = forms.#forms;
      this.#index = forms.#index;
      this.#textIndex = forms.#textIndex;
      this.active = forms.active;
      this.#holdBytes = forms.#holdBytes;
      this.#textForms = forms.#textForms;
      this.#shortestText = forms.#shortestText;
      return;
    }
    const seen = new Set<string>();
    const list: Form[] = [];
    for (const [form, replacement] of forms) {
      // The first replacement given for a form wins (two credentials may share a value).
      if (form === "" || seen.has(form)) continue;
      seen.add(form);
      const bytes = utf8.encode(form);
      list.push({
        bytes: latin1(bytes),
        replacement: utf8.encode(replacement),
        text: form,
        textReplacement: replacement,
      });
    }
    list.sort((a, b) => b.bytes.length - a.bytes.length);
    this.#forms = list;
    this.#index = new FormIndex(list.map((f) => f.bytes));
    this.active = list.length > 0;
    this.#holdBytes = list.length > 0 ? list[0].bytes.length - 1 : 0;
    const textForms: Array<[string, string]> = [];
    const textSeen = new Set<string>();
    for (const f of list) {
      // Header values arrive as latin1 strings, so a non-ASCII secret shows up as its UTF-8
      // bytes one character each; a JS string could also hold it as real characters.
      for (
        const [t, r] of [[f.text, f.textReplacement], [f.bytes, latin1(f.replacement)]] as const
      ) {
        if (!textSeen.has(t)) {
          textSeen.add(t);
          textForms.push([t, r]);
        }
      }
    }
    this.#textForms = textForms.sort((a, b) => b[0].length - a[0].length);
    this.#textIndex = new FormIndex(this.#textForms.map(([t]) => t));
    this.#shortestText = textForms.length > 0 ? textForms[textForms.length - 1][0].length : 0;
  }

  /** Scrubs `chunk` and returns the bytes safe to send now; a possible form prefix is held. */
  push(chunk: Uint8Array): Uint8Array {
    if (!this.active) return chunk;
    const buf = this.#held.length === 0 ? chunk : concatBytes([this.#held, chunk]);
    const { out, consumed } = this.#scan(buf, buf.length - this.#pendingPrefix(buf));
    // A copy: callers may reuse the chunk's buffer once push() returns.
    this.#held = consumed === buf.length ? EMPTY : buf.slice(consumed);
    return out;
  }

  /**
   * Length of the longest tail of `buf` that is a proper prefix of some form: only those bytes
   * wait for the next chunk. Holding back a fixed length instead would delay the end of every
   * streamed event (SSE tokens from an LLM API) until the next one arrives.
   */
  #pendingPrefix(buf: Uint8Array): number {
    const from = Math.max(0, buf.length - this.#holdBytes);
    return this.#index.pendingPrefix(latin1(buf.subarray(from)), 0);
  }

  /**
   * A body that is here in full, scrubbed in one pass: what `push(body)` then `end()` give, without
   * working out which tail to hold back. Call it instead of them, on a scrubber not pushed to yet.
   */
  whole(body: Uint8Array): Uint8Array {
    if (!this.active) return body;
    const buf = this.#held.length === 0 ? body : concatBytes([this.#held, body]);
    this.#held = EMPTY;
    return this.#scan(buf, buf.length).out;
  }

  /** The held-back tail, scrubbed. Call once after the last `push()`. */
  end(): Uint8Array {
    const buf = this.#held;
    this.#held = EMPTY;
    if (buf.length === 0) return EMPTY;
    return this.#scan(buf, buf.length).out;
  }

  /** `s` with every form replaced (a header value, or any whole string). */
  text(s: string): string {
    if (!this.active || s.length < this.#shortestText) return s;
    const index = this.#textIndex;
    let out = "";
    let cursor = 0;
    for (let i = 0; i < s.length;) {
      const id = index.at(s, i);
      if (id < 0) {
        i++;
        continue;
      }
      out += s.slice(cursor, i) + this.#textForms[id][1];
      i = cursor = i + this.#textForms[id][0].length;
    }
    return cursor === 0 ? s : out + s.slice(cursor);
  }

  /**
   * Replaces forms starting before `limit` (every form starting there lies wholly inside `buf`,
   * so the leftmost-longest choice is final) and returns the output up to where the next
   * undecided position begins.
   */
  #scan(buf: Uint8Array, limit: number): { out: Uint8Array; consumed: number } {
    const forms = this.#forms;
    const index = this.#index;
    const pieces: Uint8Array[] = [];
    let replaced = false;
    let cursor = 0;
    for (let m = index.find(buf, 0, limit); m; m = index.find(buf, cursor, limit)) {
      if (m.at > cursor) pieces.push(buf.subarray(cursor, m.at));
      pieces.push(forms[m.id].replacement);
      replaced = true;
      cursor = m.at + forms[m.id].bytes.length;
    }
    const stop = Math.max(cursor, limit);
    if (stop > cursor) pieces.push(buf.subarray(cursor, stop));
    // A lone piece of `buf` is returned as is; replacements are shared, so they are copied, into
    // a slab: the output is written to the agent and dropped, so it needs no buffer of its own.
    return {
      out: pieces.length === 1 && !replaced ? pieces[0] : concatShortLived(pieces),
      consumed: stop,
    };
  }
}
