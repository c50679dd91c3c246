/**
 * Response scrubbing: the forms in which an upstream could echo a secret back, and a streaming
 * replacer that swaps them for the credential's placeholder before the agent sees them.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { InjectableCredential } from "./http_inject.ts";
import { latin1 } from "./_placeholders.ts";

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * The forms of `secret` that must never reach the agent, each with what replaces it: the raw
 * secret (→ the placeholder), its percent-encoding (→ the encoded placeholder), its JSON string
 * escaping (→ the escaped placeholder) and, for `basic_auth`, `base64(username:secret)` (→
 * `base64(username:placeholder)`). Longest first; forms equal to another are left out. An empty
 * secret has no forms (it would match everywhere).
 *
 * @example
 * ```ts
 * scrubForms(githubPat, 'ab"c');
 * // [['ab\\"c', "{{github_pat}}"], ["ab%22c", "%7B%7Bgithub_pat%7D%7D"], ['ab"c', "{{github_pat}}"]]
 * ```
 */
export function scrubForms(
  credential: InjectableCredential,
  secret: string,
): Array<[form: string, replacement: string]> {
  if (secret === "") return [];
  const placeholder = credential.placeholder;
  const forms: Array<[string, string]> = [[secret, placeholder]];
  const add = (form: string | null, replacement: string | null) => {
    if (form === null || replacement === null || form === "") return;
    if (!forms.some(([f]) => f === form)) forms.push([form, replacement]);
  };
  add(uriEncoded(secret), uriEncoded(placeholder));
  add(jsonEscaped(secret), jsonEscaped(placeholder));
  if (credential.kind === "basic_auth") {
    const user = credential.username ?? "";
    add(base64Utf8(`${user}:${secret}`), base64Utf8(`${user}:${placeholder}`));
  }
  // Stable: equal lengths keep the order above.
  return forms.sort((a, b) => b[0].length - a[0].length);
}

function uriEncoded(s: string): string | null {
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate cannot be percent-encoded, so it cannot appear that way either.
    return null;
  }
}

/** The JSON string escaping of `s`, without the quotes. */
export function jsonEscaped(s: string): string {
  const quoted = JSON.stringify(s);
  return quoted.slice(1, quoted.length - 1);
}

/** Standard base64 of the UTF-8 bytes of `s`. */
export function base64Utf8(s: string): string {
  return Buffer.from(utf8.encode(s)).toString("base64");
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
  /** Bytes that might begin a form completed by the next chunk. */
  readonly #holdBytes: number;
  #held: Uint8Array = EMPTY;
  /** String forms for {@linkcode text}, longest first, including UTF-8-as-latin1 variants. */
  readonly #textForms: Array<[string, string]>;

  /**
   * Compiles `forms`; or, given another scrubber, shares its compiled forms and starts with
   * nothing held (one scrubber per response, forms compiled once per set of secrets).
   */
  constructor(forms: Array<[form: string, replacement: string]> | Scrubber) {
    if (forms instanceof Scrubber) {
      this.#forms = forms.#forms;
      this.active = forms.active;
      this.#holdBytes = forms.#holdBytes;
      this.#textForms = forms.#textForms;
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
  }

  /** Scrubs `chunk` and returns the bytes safe to send now; a possible form prefix is held. */
  push(chunk: Uint8Array): Uint8Array {
    if (!this.active) return chunk;
    const buf = this.#held.length === 0 ? chunk : concat([this.#held, chunk]);
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
    const tail = latin1(buf.subarray(Math.max(0, buf.length - this.#holdBytes)));
    let hold = 0;
    for (const { bytes: form } of this.#forms) {
      const first = form.charCodeAt(0);
      for (let p = Math.max(0, tail.length - (form.length - 1)); p < tail.length - hold; p++) {
        if (tail.charCodeAt(p) === first && form.startsWith(tail.slice(p))) {
          hold = tail.length - p;
          break;
        }
      }
    }
    return hold;
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
    if (!this.active) return s;
    let out = "";
    let cursor = 0;
    const next = this.#textForms.map(([t]) => s.indexOf(t));
    for (;;) {
      let best = -1;
      let bestAt = s.length;
      for (let j = 0; j < next.length; j++) {
        if (next[j] >= 0 && next[j] < cursor) next[j] = s.indexOf(this.#textForms[j][0], cursor);
        if (next[j] >= 0 && next[j] < bestAt) {
          best = j;
          bestAt = next[j];
        }
      }
      if (best < 0) break;
      out += s.slice(cursor, bestAt) + this.#textForms[best][1];
      cursor = bestAt + this.#textForms[best][0].length;
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
    const s = latin1(buf);
    const pieces: Uint8Array[] = [];
    let replaced = false;
    let cursor = 0;
    const next = forms.map((f) => s.indexOf(f.bytes));
    for (;;) {
      let best = -1;
      let bestAt = limit;
      for (let j = 0; j < forms.length; j++) {
        if (next[j] >= 0 && next[j] < cursor) next[j] = s.indexOf(forms[j].bytes, cursor);
        // Strict `<`: forms are longest first, so the longest wins a tie.
        if (next[j] >= 0 && next[j] < bestAt) {
          best = j;
          bestAt = next[j];
        }
      }
      if (best < 0) break;
      if (bestAt > cursor) pieces.push(buf.subarray(cursor, bestAt));
      pieces.push(forms[best].replacement);
      replaced = true;
      cursor = bestAt + forms[best].bytes.length;
    }
    const stop = Math.max(cursor, limit);
    if (stop > cursor) pieces.push(buf.subarray(cursor, stop));
    // A lone piece of `buf` is returned as is; replacements are shared, so they are copied.
    return { out: pieces.length === 1 && !replaced ? pieces[0] : concat(pieces), consumed: stop };
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
