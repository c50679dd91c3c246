/**
 * A pure, strict HTTP/1.1 message codec (RFC 9112, RFC 9110): heads, body framing, body reading,
 * serialisation and hop-by-hop handling. No sockets; every function is deterministic over bytes.
 *
 * Head parsing lives in `_head.ts` and the chunked coding in `_chunked.ts`; both are re-exported
 * here so the proxy imports one module.
 *
 * @module
 */

import { ChunkedDecoder, type ChunkedLimits } from "./_chunked.ts";
import {
  FIELD_BYTE,
  HttpParseError,
  isToken,
  type RequestHead,
  type ResponseHead,
} from "./_head.ts";

export { type ChunkedLimits, encodeChunk, LAST_CHUNK } from "./_chunked.ts";
export {
  DEFAULT_HEAD_LIMITS,
  type HeadLimits,
  type HttpErrorStatus,
  HttpParseError,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "./_head.ts";

/** How a message body is delimited (RFC 9112 §6). */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * Request body framing per RFC 9112 §6. Strict: anything two parsers could frame differently
 * throws {@linkcode HttpParseError} (400 malformed or ambiguous, 501 unsupported coding).
 *
 * @example
 * ```ts
 * requestFraming({ method: "POST", target: "/", version: "HTTP/1.1", headers: [["Content-Length", "3"]], headBytes: 0 });
 * // { kind: "length", length: 3 }
 * ```
 */
export function requestFraming(head: RequestHead): Framing {
  const te = headerValues(head.headers, "transfer-encoding");
  const cl = headerValues(head.headers, "content-length");
  if (te.length > 0 && cl.length > 0) {
    // RFC 9112 §6.1: both present is the classic smuggling shape; refuse instead of choosing.
    throw new HttpParseError(400, "Request has both Transfer-Encoding and Content-Length");
  }
  if (te.length > 0) {
    if (head.version === "HTTP/1.0") {
      throw new HttpParseError(400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    const codings = parseCodings(te, 400);
    if (codings.some((c) => c !== "chunked")) {
      const other = codings.find((c) => c !== "chunked");
      throw new HttpParseError(501, `Transfer coding '${other}' is not supported`);
    }
    if (codings.length > 1) {
      throw new HttpParseError(400, "Transfer coding 'chunked' applied twice");
    }
    return { kind: "chunked" };
  }
  if (cl.length > 1) throw new HttpParseError(400, "Request has more than one Content-Length");
  if (cl.length === 1) {
    const length = parseLength(cl[0]);
    if (length === null) throw new HttpParseError(400, `Invalid Content-Length '${cl[0]}'`);
    return { kind: "length", length };
  }
  return { kind: "none" };
}

/**
 * Response body framing per RFC 9112 §6.3, given the request method. Faults throw
 * {@linkcode HttpParseError} with status 502. When it returns "chunked" or "close" the proxy
 * re-frames the body, so it must drop the upstream's Transfer-Encoding and Content-Length.
 *
 * @example
 * ```ts
 * responseFraming("HEAD", { version: "HTTP/1.1", status: 200, reason: "OK", headers: [["Content-Length", "9"]], headBytes: 0 });
 * // { kind: "none" }
 * ```
 */
export function responseFraming(method: string, head: ResponseHead): Framing {
  const status = head.status;
  if (status < 200 || status === 204 || status === 304 || method === "HEAD") {
    return { kind: "none" };
  }
  if (method === "CONNECT" && status < 300) return { kind: "none" };
  const te = headerValues(head.headers, "transfer-encoding");
  const cl = headerValues(head.headers, "content-length");
  if (te.length > 0) {
    // RFC 9112 §6.1: both present "ought to be handled as an error"; HTTP/1.0 with TE is faulty.
    if (cl.length > 0) {
      throw new HttpParseError(
        502,
        "Upstream response has both Transfer-Encoding and Content-Length",
      );
    }
    if (head.version === "HTTP/1.0") {
      throw new HttpParseError(502, "Upstream HTTP/1.0 response uses Transfer-Encoding");
    }
    const codings = parseCodings(te, 502);
    // The proxy strips TE, so a body still under another coding (gzip) could not be relayed
    // faithfully; "identity" is a legacy no-op some servers still send.
    const other = codings.find((c) => c !== "chunked" && c !== "identity");
    if (other !== undefined) {
      throw new HttpParseError(502, `Upstream transfer coding '${other}' is not supported`);
    }
    if (codings.filter((c) => c === "chunked").length > 1) {
      throw new HttpParseError(502, "Upstream applied 'chunked' twice");
    }
    return codings[codings.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  if (cl.length > 0) {
    // Identical duplicates (fields or list members) are tolerated for responses (RFC 9112 §6.3).
    let length: number | null = null;
    for (const field of cl) {
      for (const part of field.split(",")) {
        const n = parseLength(trimOws(part));
        if (n === null) throw new HttpParseError(502, `Invalid upstream Content-Length '${field}'`);
        if (length !== null && n !== length) {
          throw new HttpParseError(502, "Upstream sent conflicting Content-Length values");
        }
        length = n;
      }
    }
    return { kind: "length", length: length! };
  }
  return { kind: "close" };
}

/** `1*DIGIT` within the safe-integer range, else null. */
function parseLength(s: string): number | null {
  if (s.length === 0) return null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return null;
  }
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** Lowercased coding names from Transfer-Encoding fields; malformed syntax throws `status`. */
function parseCodings(fields: string[], status: 400 | 502): string[] {
  const codings: string[] = [];
  for (const field of fields) {
    for (const element of field.split(",")) {
      const [name, ...params] = element.split(";");
      const coding = trimOws(name);
      // Empty list elements are refused too: they have no use but to probe parser differences.
      if (!isToken(coding)) {
        throw new HttpParseError(status, `Malformed Transfer-Encoding '${field}'`);
      }
      const lower = coding.toLowerCase();
      if (lower === "chunked" && params.length > 0) {
        throw new HttpParseError(status, "Transfer coding 'chunked' takes no parameters");
      }
      codings.push(lower);
    }
  }
  return codings;
}

/** Options for {@linkcode BodyReader}. */
export type BodyReaderOptions = ChunkedLimits;

/**
 * Incremental body reader for one message. `push()` returns the body data found in `chunk`
 * (chunk framing removed; views into `chunk`, not copies), how many bytes of `chunk` belong to
 * this message (`consumed`; the rest belongs to the next one), and whether the message is
 * complete. "close" framing never completes: the caller ends the body at EOF.
 *
 * @example
 * ```ts
 * const r = new BodyReader({ kind: "length", length: 2 });
 * r.push(new TextEncoder().encode("hiGET")); // { data: [hi], consumed: 2, done: true }
 * ```
 */
export class BodyReader {
  readonly #kind: Framing["kind"];
  #remaining = 0;
  #decoded = 0;
  #done: boolean;
  readonly #chunked: ChunkedDecoder | null = null;

  /** Creates a reader for a body framed as `framing`. */
  constructor(framing: Framing, limits: BodyReaderOptions = {}) {
    this.#kind = framing.kind;
    if (framing.kind === "length") {
      if (!Number.isSafeInteger(framing.length) || framing.length < 0) {
        throw new RangeError(`Invalid body length '${framing.length}'`);
      }
      this.#remaining = framing.length;
    }
    if (framing.kind === "chunked") this.#chunked = new ChunkedDecoder(limits);
    this.#done = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
  }

  /** True once the whole body has been read. */
  get done(): boolean {
    return this.#done;
  }

  /** Body bytes produced so far (after removing chunk framing). */
  get bytesDecoded(): number {
    return this.#chunked?.bytesDecoded ?? this.#decoded;
  }

  /** Feeds the next bytes; throws {@linkcode HttpParseError} on a malformed chunked body. */
  push(chunk: Uint8Array): { data: Uint8Array[]; consumed: number; done: boolean } {
    if (this.#done || chunk.length === 0) return { data: [], consumed: 0, done: this.#done };
    if (this.#chunked !== null) {
      const data: Uint8Array[] = [];
      const consumed = this.#chunked.push(chunk, data);
      this.#done = this.#chunked.done;
      return { data, consumed, done: this.#done };
    }
    if (this.#kind === "close") {
      this.#decoded += chunk.length;
      return { data: [chunk], consumed: chunk.length, done: false };
    }
    const take = Math.min(this.#remaining, chunk.length);
    this.#remaining -= take;
    this.#decoded += take;
    this.#done = this.#remaining === 0;
    const data = take === chunk.length ? chunk : chunk.subarray(0, take);
    return { data: [data], consumed: take, done: this.#done };
  }
}

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
    if (c > 0xff || FIELD_BYTE[c] === 0) {
      throw new TypeError(`Invalid character U+${c.toString(16).padStart(4, "0")} in ${what}`);
    }
  }
}

function serializeHead(startLine: string, headers: [string, string][]): Uint8Array {
  let size = startLine.length + 4;
  for (const [name, value] of headers) {
    if (!isToken(name)) throw new TypeError(`Invalid header field name '${name}'`);
    checkFieldText(value, `header field '${name}'`);
    size += name.length + value.length + 4;
  }
  const out = new Uint8Array(size);
  let o = writeText(out, 0, startLine);
  for (const [name, value] of headers) {
    out[o++] = 0x0d;
    out[o++] = 0x0a;
    o = writeText(out, o, name);
    out[o++] = 0x3a;
    out[o++] = 0x20;
    o = writeText(out, o, value);
  }
  out.set(CRLFCRLF, o);
  return out;
}

const CRLFCRLF = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a]);

/** Copies code units (each ≤ 0xFF, checked by the caller) as bytes. */
function writeText(out: Uint8Array, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
  return o;
}

/** Hop-by-hop fields (RFC 9110 §7.6.1) plus the proxy credentials that must not travel on. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Removes hop-by-hop headers (RFC 9110 §7.6.1): Connection and every header it names, Keep-Alive,
 * Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE, Trailer, Transfer-Encoding,
 * Upgrade. `keep` names (lowercase) survive, e.g. `["upgrade"]` when relaying a WebSocket upgrade
 * (the caller then re-adds `Connection: upgrade`). Case-insensitive; returns a new array.
 *
 * @example
 * ```ts
 * stripHopByHop([["Connection", "X-A"], ["x-a", "1"], ["Host", "h"]]); // [["Host", "h"]]
 * ```
 */
export function stripHopByHop(
  headers: [string, string][],
  keep: string[] = [],
): [string, string][] {
  const drop = new Set(HOP_BY_HOP);
  for (const token of connectionTokens(headers)) drop.add(token);
  for (const name of keep) drop.delete(name.toLowerCase());
  const out: [string, string][] = [];
  for (const [name, value] of headers) {
    if (!drop.has(name.toLowerCase())) out.push([name, value]);
  }
  return out;
}

/**
 * All values of a header, one per field line, in order (case-insensitive name).
 *
 * @example
 * ```ts
 * headerValues([["Accept", "a"], ["accept", "b"]], "ACCEPT"); // ["a", "b"]
 * ```
 */
export function headerValues(headers: [string, string][], name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of headers) {
    if (n.length === lower.length && n.toLowerCase() === lower) out.push(v);
  }
  return out;
}

/**
 * True when the message asks to close after it: `Connection: close`, or anything but HTTP/1.1
 * without `Connection: keep-alive` (RFC 9112 §9.3).
 *
 * @example
 * ```ts
 * wantsClose("HTTP/1.0", []); // true
 * wantsClose("HTTP/1.1", [["Connection", "Close"]]); // true
 * ```
 */
export function wantsClose(version: string, headers: [string, string][]): boolean {
  const tokens = connectionTokens(headers);
  if (tokens.includes("close")) return true;
  return version !== "HTTP/1.1" && !tokens.includes("keep-alive");
}

/** Lowercased, trimmed, non-empty connection-options from every Connection field. */
function connectionTokens(headers: [string, string][]): string[] {
  const tokens: string[] = [];
  for (const value of headerValues(headers, "connection")) {
    for (const part of value.split(",")) {
      const token = trimOws(part).toLowerCase();
      if (token.length > 0) tokens.push(token);
    }
  }
  return tokens;
}

/**
 * Trims OWS (SP, HTAB) only. `String#trim` would also strip U+00A0 and other characters that are
 * valid obs-text here, turning `5\xa0` into a valid Content-Length.
 */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
