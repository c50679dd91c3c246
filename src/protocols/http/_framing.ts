/**
 * HTTP/1.1 message body framing (RFC 9112 §6): how a request's or response's body is delimited,
 * refusing anything two parsers could frame differently, and an incremental reader that takes
 * exactly one body off a byte stream. Pure: no I/O.
 *
 * @module
 */

import { ChunkedDecoder, type ChunkedLimits } from "./_chunked.ts";
import { HttpParseError, isToken, type RequestHead, type ResponseHead } from "./_head.ts";
import { headerValues, trimOws } from "./_fields.ts";

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
function parseCodings(fields: readonly string[], status: 400 | 502): string[] {
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
