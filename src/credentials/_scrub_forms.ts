/**
 * The encodings an upstream plausibly echoes a secret in: percent-encoding, JSON string escapes,
 * HTML character references, hex, base64 and base64url (at every alignment inside a longer blob)
 * and, where it is safe, the case-folded secret. Each is a fixed string the scrubber matches byte
 * for byte; transformations that are not one fixed string per secret are out of reach (see the
 * README's "scrubs responses").
 *
 * @module
 */

import { Buffer } from "node:buffer";

const utf8 = new TextEncoder();

/**
 * Base64 forms shorter than this many characters are left out: a 4-character run of base64
 * occurs by chance in any long base64 payload, and scrubbing it would corrupt the payload.
 */
export const MIN_BASE64_FORM = 8;

/**
 * Non-hex secrets are case-folded only from this length on: a shorter one (a password such as
 * `Summer24`) folded to `SUMMER24` is plausible ordinary text, and scrubbing it would mangle
 * bodies; a 16-character token folded still leaks all but the case bits of every letter.
 */
export const MIN_CASE_FOLDED = 16;

/** A form of a secret and the context its replacement must fit: it decides how the placeholder is encoded. */
export type FormContext = "plain" | "percent" | "json" | "html";

/** `s` percent-encoded by `encodeURIComponent`, or `null` for a lone surrogate (not encodable). */
export function uriEncoded(s: string): string | null {
  try {
    return encodeURIComponent(s);
  } catch {
    return null;
  }
}

/** The JSON string escaping of `s` (`JSON.stringify`), without the quotes. */
export function jsonEscaped(s: string): string {
  const quoted = JSON.stringify(s);
  return quoted.slice(1, quoted.length - 1);
}

/** Standard base64 of the UTF-8 bytes of `s`. */
export function base64Utf8(s: string): string {
  return Buffer.from(utf8.encode(s)).toString("base64");
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0");
const hex4 = (n: number) => n.toString(16).padStart(4, "0");
const lowerHexEscapes = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());

/** Every UTF-8 byte as `%xx` (lower-case hex). */
function percentAll(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += "%" + hex2(b);
  return out;
}

/** `application/x-www-form-urlencoded`: space as `+`, and a different unreserved set from `encodeURIComponent`. */
function formEncoded(s: string): string {
  return new URLSearchParams([["", s]]).toString().slice(1);
}

/** The percent-encodings of `s`: as `encodeURIComponent` and forms write it, and every byte escaped. */
function percentForms(s: string, bytes: Uint8Array): string[] {
  const usual = uriEncoded(s);
  if (usual === null) return [];
  const all = percentAll(bytes);
  return [usual, lowerHexEscapes(usual), formEncoded(s), all, all.toUpperCase()];
}

/**
 * The JSON string escapings of `s`: `JSON.stringify` (JavaScript, Rust), with `\/` (PHP's
 * `json_encode`), with non-ASCII as `\uXXXX` (Python's `ensure_ascii`), with `<>&` and U+2028/9
 * escaped (Go's `encoding/json`), and every character escaped, in lower- and upper-case hex.
 */
function jsonForms(s: string): string[] {
  const usual = jsonEscaped(s);
  const ascii = usual.replace(/[\u0080-\uffff]/g, (c) => "\\u" + hex4(c.charCodeAt(0)));
  const go = ascii.replace(/[<>&]/g, (c) => "\\u" + hex4(c.charCodeAt(0)));
  let all = "";
  for (let i = 0; i < s.length; i++) all += "\\u" + hex4(s.charCodeAt(i));
  const allUpper = all.replace(/[0-9a-f]{4}/g, (h) => h.toUpperCase());
  return [usual, usual.replaceAll("/", "\\/"), ascii, go, all, allUpper];
}

/** HTML5 named character references for the ASCII characters that have one. */
const HTML_NAMED: Record<string, string> = {
  "\t": "&Tab;",
  "\n": "&NewLine;",
  "!": "&excl;",
  '"': "&quot;",
  "#": "&num;",
  "$": "&dollar;",
  "%": "&percnt;",
  "&": "&amp;",
  "'": "&apos;",
  "(": "&lpar;",
  ")": "&rpar;",
  "*": "&ast;",
  "+": "&plus;",
  ",": "&comma;",
  ".": "&period;",
  "/": "&sol;",
  ":": "&colon;",
  ";": "&semi;",
  "<": "&lt;",
  "=": "&equals;",
  ">": "&gt;",
  "?": "&quest;",
  "@": "&commat;",
  "[": "&lsqb;",
  "\\": "&bsol;",
  "]": "&rsqb;",
  "^": "&Hat;",
  "_": "&lowbar;",
  "`": "&grave;",
  "{": "&lcub;",
  "|": "&verbar;",
  "}": "&rcub;",
};

/** Escapes only `& < > " '`, with the apostrophe and quote spelled as `quote` and `apos` say. */
function htmlMinimal(s: string, quote = "&quot;", apos = "&#39;"): string {
  return s.replace(/[&<>"']/g, (c) => c === '"' ? quote : c === "'" ? apos : HTML_NAMED[c]);
}

/** `s` HTML-escaped as templates do it (`&amp;` etc.), for a placeholder replacing an HTML form. */
export function htmlEscaped(s: string): string {
  return htmlMinimal(s);
}

/**
 * The HTML character-reference forms of `s`: escaped only where needed (the spellings of Go's
 * `html.EscapeString`, Python's `html.escape`, PHP's `htmlspecialchars` and common templates),
 * every character that has a named reference named, and every character as `&#NN;` and
 * `&#xHH;` (lower- and upper-case hex).
 */
function htmlForms(s: string): string[] {
  const named = s.replace(/[\t\n!-/:-@[-`{-}]/g, (c) => HTML_NAMED[c] ?? c);
  let dec = "";
  let hex = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    dec += `&#${cp};`;
    hex += `&#x${cp.toString(16)};`;
  }
  return [
    htmlMinimal(s),
    htmlMinimal(s, "&quot;", "&#x27;"),
    htmlMinimal(s, "&quot;", "&#039;"),
    htmlMinimal(s, "&#34;", "&#39;"),
    htmlMinimal(s, "&quot;", "&apos;"),
    named,
    dec,
    hex,
    hex.replace(/&#x([0-9a-f]+);/g, (_, h: string) => `&#x${h.toUpperCase()};`),
  ];
}

/**
 * Base64 and base64url of the secret's bytes at each of the three offsets modulo 3 at which it
 * can sit inside a longer encoded blob (a Basic credential, a JWT claim, an attachment). Only the
 * characters determined by the secret's bytes alone are kept: the one at each end that also
 * carries a neighbour's bits differs from blob to blob (it leaks at most 4 bits of the secret).
 * No padding is included, so padded and unpadded encodings both match. The secret encoded on its
 * own (with its partial last character) is one more form.
 */
function base64Forms(bytes: Uint8Array): string[] {
  const n = bytes.length;
  const forms = [Buffer.from(bytes).toString("base64").replace(/=+$/, "")];
  for (let k = 0; k < 3; k++) {
    const shifted = new Uint8Array(k + n);
    shifted.set(bytes, k);
    const b64 = Buffer.from(shifted).toString("base64");
    // Character i holds bits [6i, 6i + 6); the secret holds bits [8k, 8k + 8n).
    forms.push(b64.slice(Math.ceil(8 * k / 6), Math.floor((8 * k + 8 * n) / 6)));
  }
  const kept = forms.filter((f) => f.length >= MIN_BASE64_FORM);
  return [...kept, ...kept.map((f) => f.replaceAll("+", "-").replaceAll("/", "_"))];
}

/** Hex of the UTF-8 bytes, lower and upper case. */
function hexForms(bytes: Uint8Array): string[] {
  const lower = Buffer.from(bytes).toString("hex");
  return [lower, lower.toUpperCase()];
}

/**
 * The upper- and lower-cased secret. For an all-hex secret case carries no meaning (the folded
 * value is the secret); for another one only from {@linkcode MIN_CASE_FOLDED} characters on.
 */
function caseForms(s: string): string[] {
  const hexLike = /^[0-9a-f]+$/i.test(s);
  if (!hexLike && s.length < MIN_CASE_FOLDED) return [];
  return [s.toUpperCase(), s.toLowerCase()];
}

/**
 * Every encoded form of `secret` to scrub besides the secret itself, each with the context its
 * replacement is written for. May contain duplicates and the secret itself (the caller dedups).
 */
export function encodedForms(secret: string): Array<[form: string, context: FormContext]> {
  const bytes = utf8.encode(secret);
  const out: Array<[string, FormContext]> = [];
  for (const f of caseForms(secret)) out.push([f, "plain"]);
  for (const f of percentForms(secret, bytes)) out.push([f, "percent"]);
  for (const f of jsonForms(secret)) out.push([f, "json"]);
  for (const f of htmlForms(secret)) out.push([f, "html"]);
  for (const f of hexForms(bytes)) out.push([f, "plain"]);
  for (const f of base64Forms(bytes)) out.push([f, "plain"]);
  return out;
}
