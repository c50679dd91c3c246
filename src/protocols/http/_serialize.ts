/**
 * Serialising HTTP/1.1 heads (RFC 9112 §2-§5) so they parse back identically: anything that could
 * inject a line or be misread (CR, LF, NUL, non-token names) throws instead. Pure: no I/O.
 *
 * @module
 */

import { shortLivedBytes } from "../../core/mod.ts";
import { FIELD_BYTE, isToken, TCHAR } from "./_head.ts";

/**
 * Serialises an HTTP/1.1 request head. Throws TypeError on anything that could not be parsed
 * back identically, above all CR, LF or NUL, so a value can never inject a line.
 *
 * @example
 * ```ts
 * serializeRequestHead("GET", "/", [["Host", "example.com"]]);
 * // "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n" as bytes
 * ```
 */
export function serializeRequestHead(
  method: string,
  target: string,
  headers: [string, string][],
): Uint8Array {
  if (!isToken(method)) throw new TypeError(`Invalid request method '${method}'`);
  checkTarget(target);
  return serializeHead(`${method} ${target} HTTP/1.1`, headers);
}

/**
 * Serialises an HTTP/1.1 response head. Throws TypeError on an invalid reason or header (CR, LF,
 * NUL and other controls included) and RangeError on a status outside 100-599.
 *
 * @example
 * ```ts
 * serializeResponseHead(403, "Forbidden", [["Content-Length", "0"]]);
 * ```
 */
export function serializeResponseHead(
  status: number,
  reason: string,
  headers: [string, string][],
): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`Invalid status code '${status}'`);
  }
  checkFieldText(reason, "reason phrase");
  return serializeHead(`HTTP/1.1 ${status} ${reason}`, headers);
}

function checkTarget(target: string): void {
  if (target.length === 0) throw new TypeError("Empty request target");
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) throw new TypeError(`Invalid request target '${target}'`);
  }
}

function checkFieldText(text: string, what: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || FIELD_BYTE[c] === 0) throw invalidCharacter(c, what);
  }
}

function invalidCharacter(c: number, what: string): TypeError {
  return new TypeError(`Invalid character U+${c.toString(16).padStart(4, "0")} in ${what}`);
}

function serializeHead(startLine: string, headers: [string, string][]): Uint8Array {
  // Each code unit is one byte (anything above 0xFF is refused below), so the size is known
  // before a character is read: the fields are checked as they are copied, in one pass.
  let size = startLine.length + 4;
  for (const [name, value] of headers) size += name.length + value.length + 4;
  // Written to a socket and dropped: cut from a shared slab, not a buffer of its own. A field
  // that throws leaves its part of the slab unused, which is all it costs.
  const out = shortLivedBytes(size);
  let o = writeText(out, 0, startLine);
  for (const [name, value] of headers) {
    out[o++] = 0x0d;
    out[o++] = 0x0a;
    o = writeName(out, o, name);
    out[o++] = 0x3a;
    out[o++] = 0x20;
    o = writeValue(out, o, value, name);
  }
  out.set(CRLFCRLF, o);
  return out;
}

/** Copies a field name, which must be a non-empty token. */
function writeName(out: Uint8Array, o: number, name: string): number {
  if (name.length === 0) throw new TypeError(`Invalid header field name '${name}'`);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || TCHAR[c] === 0) throw new TypeError(`Invalid header field name '${name}'`);
    out[o++] = c;
  }
  return o;
}

/** Copies a field value, which may hold only HTAB, SP, VCHAR and obs-text. */
function writeValue(out: Uint8Array, o: number, value: string, name: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || FIELD_BYTE[c] === 0) throw invalidCharacter(c, `header field '${name}'`);
    out[o++] = c;
  }
  return o;
}

const CRLFCRLF = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a]);

/** Copies code units (each ≤ 0xFF, checked by the caller) as bytes. */
function writeText(out: Uint8Array, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
  return o;
}
