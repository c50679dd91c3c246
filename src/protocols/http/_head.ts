/**
 * Strict HTTP/1.1 head parsing (RFC 9112 §2-§5): bytes in, values out, no I/O.
 *
 * The proxy sits between an agent and upstream servers, so any byte sequence two HTTP parsers could
 * read differently is a smuggling or evasion vector. Everything the RFC lets a recipient "choose"
 * is refused here: bare LF, obs-fold, whitespace before the colon, control bytes in values.
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** RFC 9110 §5.6.2 caps the empty lines we skip before a request line; more is garbage, not slack. */
const MAX_LEADING_EMPTY_LINES = 4;

/** Statuses a protocol error maps to; 502 is used for every upstream (response) fault. */
export type HttpErrorStatus = 400 | 414 | 431 | 501 | 505 | 502;

/**
 * A protocol error; `status` is what the proxy answers the client with.
 *
 * @example
 * ```ts
 * try {
 *   parseRequestHead(new TextEncoder().encode("GET / HTTP/2.0\r\n\r\n"));
 * } catch (e) {
 *   if (e instanceof HttpParseError) console.log(e.status); // 505
 * }
 * ```
 */
export class HttpParseError extends Error {
  /** The status the proxy should answer with. */
  readonly status: HttpErrorStatus;

  /** Creates an error that maps to `status`. */
  constructor(status: HttpErrorStatus, message: string) {
    super(message);
    this.name = "HttpParseError";
    this.status = status;
  }
}

/** Size limits for one message head. */
export interface HeadLimits {
  /** Longest start line, CRLF included. @default {8192} */
  maxRequestLine: number;
  /** Longest whole head, start line and final CRLFCRLF included. @default {65536} */
  maxHeaderBytes: number;
  /** Most header fields. @default {200} */
  maxHeaderCount: number;
}

/** The limits used when none are given. */
export const DEFAULT_HEAD_LIMITS: HeadLimits = Object.freeze({
  maxRequestLine: 8192,
  maxHeaderBytes: 65536,
  maxHeaderCount: 200,
});

/** A parsed request head. */
export interface RequestHead {
  /** Exactly as sent (validated as a token; methods are case-sensitive). */
  method: string;
  /** The request-target as sent (origin, absolute, authority or asterisk form). */
  target: string;
  /** The only two versions accepted. */
  version: "HTTP/1.0" | "HTTP/1.1";
  /** Names as sent, values with leading/trailing OWS removed, in order. */
  headers: [name: string, value: string][];
  /** Bytes consumed, leading empty lines and the final CRLFCRLF included. */
  headBytes: number;
}

/** A parsed response head. */
export interface ResponseHead {
  /** "HTTP/1.0" or "HTTP/1.1". */
  version: string;
  /** Three-digit status, 100-599. */
  status: number;
  /** Reason phrase as sent, possibly empty. */
  reason: string;
  /** Names as sent, values with leading/trailing OWS removed, in order. */
  headers: [name: string, value: string][];
  /** Bytes consumed, the final CRLFCRLF included. */
  headBytes: number;
}

/** 1 for RFC 9110 §5.6.2 `tchar`. */
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const c of "!#$%&'*+-.^_`|~") t[c.charCodeAt(0)] = 1;
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  return t;
})();

/** 1 for bytes allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
export const FIELD_BYTE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  t[HTAB] = 1;
  for (let c = 0x20; c <= 0x7e; c++) t[c] = 1;
  for (let c = 0x80; c <= 0xff; c++) t[c] = 1;
  return t;
})();

/** True when `s` is a non-empty RFC 9110 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Parses a request head from the start of `buf`.
 *
 * Returns null when more bytes are needed; throws {@linkcode HttpParseError} on a bad or oversize
 * head as soon as the buffered bytes prove it bad. When called again on a grown buffer, pass the
 * previous buffer's length as `scanFrom` so the terminator search resumes instead of restarting
 * (a client trickling one byte at a time would otherwise cost quadratic CPU).
 *
 * @example
 * ```ts
 * const head = parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
 * head?.headers; // [["Host", "h"]]
 * ```
 */
export function parseRequestHead(
  buf: Uint8Array,
  limits: Partial<HeadLimits> = DEFAULT_HEAD_LIMITS,
  scanFrom = 0,
): RequestHead | null {
  const raw = scanHead(buf, { limits, scanFrom, upstream: false, parseLine: parseRequestLine });
  if (raw === null) return null;
  const { line, headers, headBytes } = raw;
  // RFC 9112 §3.2: two Host fields let policy and upstream disagree on the destination.
  let hosts = 0;
  for (const [name] of headers) if (name.length === 4 && name.toLowerCase() === "host") hosts++;
  if (hosts > 1) throw new HttpParseError(400, "Request has more than one Host header field");
  if (hosts === 0 && line.version === "HTTP/1.1") {
    throw new HttpParseError(400, "HTTP/1.1 request has no Host header field");
  }
  return { method: line.method, target: line.target, version: line.version, headers, headBytes };
}

/**
 * Parses a response head from the start of `buf`; every error carries status 502 because the
 * fault is upstream's. Same contract as {@linkcode parseRequestHead}.
 *
 * @example
 * ```ts
 * const head = parseResponseHead(new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n"));
 * head?.status; // 204
 * ```
 */
export function parseResponseHead(
  buf: Uint8Array,
  limits: Partial<HeadLimits> = DEFAULT_HEAD_LIMITS,
  scanFrom = 0,
): ResponseHead | null {
  const raw = scanHead(buf, { limits, scanFrom, upstream: true, parseLine: parseStatusLine });
  if (raw === null) return null;
  const { line, headers, headBytes } = raw;
  return { version: line.version, status: line.status, reason: line.reason, headers, headBytes };
}

type LineParser<T> = (buf: Uint8Array, start: number, cr: number, upstream: boolean) => T;

function fail(upstream: boolean, status: HttpErrorStatus, message: string): never {
  throw new HttpParseError(upstream ? 502 : status, message);
}

/** How {@linkcode scanHead} reads one head: its limits, where to resume, whose head it is. */
interface ScanOptions<T> {
  limits: Partial<HeadLimits>;
  /** The previous buffer's length: bytes before it were already searched for the empty line. */
  scanFrom: number;
  /** A response head: every error is upstream's (502). */
  upstream: boolean;
  parseLine: LineParser<T>;
}

/** Shared head scanner: finds the start line and the empty line, then parses every field line. */
function scanHead<T>(
  buf: Uint8Array,
  { limits, scanFrom, upstream, parseLine }: ScanOptions<T>,
): { line: T; headers: [string, string][]; headBytes: number } | null {
  const maxLine = limits.maxRequestLine ?? DEFAULT_HEAD_LIMITS.maxRequestLine;
  const maxBytes = limits.maxHeaderBytes ?? DEFAULT_HEAD_LIMITS.maxHeaderBytes;
  const maxCount = limits.maxHeaderCount ?? DEFAULT_HEAD_LIMITS.maxHeaderCount;
  const start = skipEmptyLines(buf, upstream);
  if (start < 0) return null;

  const lf1 = buf.indexOf(LF, start);
  if (lf1 < 0 || lf1 - start + 1 > maxLine) {
    // Fail as soon as the limit is buffered: waiting for a CRLF that may never come is a DoS.
    if (lf1 >= 0 || buf.length - start >= maxLine) {
      fail(upstream, 414, `Start line is longer than ${maxLine} bytes`);
    }
    if (buf.length - start >= maxBytes) {
      fail(upstream, 431, `Head is larger than ${maxBytes} bytes`);
    }
    return null;
  }
  if (buf[lf1 - 1] !== CR) fail(upstream, 400, "Start line ends in a bare LF");
  // Reject a bad start line the first time its end is seen, not only once the head completes.
  let line: T | undefined;
  if (lf1 >= scanFrom) line = parseLine(buf, start, lf1 - 1, upstream);

  // Phase 1: look for the empty line, checking only bytes not scanned by an earlier call.
  let found = false;
  for (let i = Math.max(lf1 + 1, scanFrom);;) {
    const lf = buf.indexOf(LF, i);
    if (lf < 0) break;
    if (buf[lf - 1] !== CR) fail(upstream, 400, "Header line ends in a bare LF");
    if (buf[lf - 2] === LF) {
      found = true;
      break;
    }
    i = lf + 1;
  }
  if (!found) {
    if (buf.length - start >= maxBytes) {
      fail(upstream, 431, `Head is larger than ${maxBytes} bytes`);
    }
    return null;
  }

  // Phase 2: parse every field line. Re-checks CRLFs so a wrong scanFrom cannot skip validation.
  line ??= parseLine(buf, start, lf1 - 1, upstream);
  const headers: [string, string][] = [];
  let ls = lf1 + 1;
  for (;;) {
    const lf = buf.indexOf(LF, ls);
    const cr = lf - 1;
    if (buf[cr] !== CR) fail(upstream, 400, "Header line ends in a bare LF");
    if (cr === ls) {
      ls = lf + 1;
      break;
    }
    if (headers.length === maxCount) {
      fail(upstream, 431, `Head has more than ${maxCount} header fields`);
    }
    headers.push(parseField(buf, ls, cr, upstream));
    ls = lf + 1;
  }
  if (ls - start > maxBytes) fail(upstream, 431, `Head is larger than ${maxBytes} bytes`);
  return { line, headers, headBytes: ls };
}

/** Returns the index after up to a few leading CRLFs (RFC 9112 §2.2), or -1 if more is needed. */
function skipEmptyLines(buf: Uint8Array, upstream: boolean): number {
  let i = 0;
  for (let n = 0;; n++) {
    if (i >= buf.length) return -1;
    if (buf[i] !== CR) {
      if (buf[i] === LF) fail(upstream, 400, "Empty line before the start line ends in a bare LF");
      return i;
    }
    if (i + 1 >= buf.length) return -1;
    if (buf[i + 1] !== LF) fail(upstream, 400, "Bare CR before the start line");
    if (n === MAX_LEADING_EMPTY_LINES) {
      fail(upstream, 400, "Too many empty lines before the start line");
    }
    i += 2;
  }
}

/** `field-line = field-name ":" OWS field-value OWS` (RFC 9112 §5), `cr` exclusive. */
function parseField(buf: Uint8Array, ls: number, cr: number, upstream: boolean): [string, string] {
  const first = buf[ls];
  // RFC 9112 §5.2: obs-fold is refused; so is whitespace before the first field (§2.2).
  if (first === SP || first === HTAB) fail(upstream, 400, "Obsolete line folding is not accepted");
  // The name's bytes are checked and hashed for the interned-string table in one pass.
  let c = ls;
  let nameHash = 0;
  for (let b = buf[c]; c < cr && TCHAR[b] === 1; b = buf[++c]) {
    nameHash = Math.imul(nameHash ^ b, FNV_PRIME);
  }
  if (c === cr || buf[c] !== COLON) {
    const b = buf[c];
    // RFC 9112 §5.1: whitespace before the colon MUST be rejected (it renames the field elsewhere).
    if (b === SP || b === HTAB) {
      fail(upstream, 400, "Whitespace between header field name and colon");
    }
    if (c === cr) fail(upstream, 400, "Header field line has no colon");
    fail(upstream, 400, `Invalid byte 0x${hex2(b)} in header field name`);
  }
  if (c === ls) fail(upstream, 400, "Empty header field name");
  // Optional whitespace first: what it trims is SP or HTAB, valid anywhere in a value, so the
  // checking pass below covers only the value itself and hashes it on the way.
  let vs = c + 1;
  let ve = cr;
  while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
  while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
  let high = 0;
  let valueHash = 0;
  for (let j = vs; j < ve; j++) {
    const b = buf[j];
    if (FIELD_BYTE[b] === 0) fail(upstream, 400, `Invalid byte 0x${hex2(b)} in header field value`);
    high |= b;
    valueHash = Math.imul(valueHash ^ b, FNV_PRIME);
  }
  const name = c - ls <= INTERNED_MAX ? interned(buf, ls, c, nameHash) : latin1(buf, ls, c, true);
  const ascii = high < 0x80;
  const value = ve - vs <= INTERNED_MAX && !(ascii && ve - vs > ASCII_DECODE_FROM)
    ? interned(buf, vs, ve, valueHash)
    : latin1(buf, vs, ve, ascii);
  return [name, value];
}

/** `method SP request-target SP HTTP-version` (RFC 9112 §3), `cr` exclusive. */
function parseRequestLine(buf: Uint8Array, s: number, cr: number) {
  let m = s;
  while (m < cr && TCHAR[buf[m]] === 1) m++;
  if (m === s || m === cr || buf[m] !== SP) throw new HttpParseError(400, "Invalid request method");
  const ts = m + 1;
  let te = ts;
  while (te < cr && buf[te] >= 0x21 && buf[te] <= 0x7e) te++;
  if (te === ts) throw new HttpParseError(400, "Empty request target");
  if (te === cr || buf[te] !== SP) {
    throw new HttpParseError(400, `Invalid byte 0x${hex2(buf[te])} in request target`);
  }
  const version = readVersion(buf, te + 1, cr);
  if (version === null) throw new HttpParseError(400, "Malformed HTTP version in request line");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpParseError(505, `HTTP version '${version}' is not supported`);
  }
  return {
    method: latin1(buf, s, m, true),
    target: latin1(buf, ts, te, true),
    version: version as "HTTP/1.0" | "HTTP/1.1",
  };
}

/** `HTTP-version SP status-code SP [ reason-phrase ]` (RFC 9112 §4), `cr` exclusive. */
function parseStatusLine(buf: Uint8Array, s: number, cr: number) {
  const version = cr - s >= 8 ? readVersion(buf, s, s + 8) : null;
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpParseError(502, "Upstream status line has no supported HTTP version");
  }
  let status = 0;
  for (let i = s + 9; i < s + 12; i++) {
    const d = buf[i] - 0x30;
    if (i >= cr || d < 0 || d > 9) throw new HttpParseError(502, "Malformed upstream status code");
    status = status * 10 + d;
  }
  if (buf[s + 8] !== SP || status < 100 || status > 599) {
    throw new HttpParseError(502, "Malformed upstream status line");
  }
  // The SP before an empty reason is often omitted by real servers; tolerating it is unambiguous.
  if (cr === s + 12) return { version, status, reason: "" };
  if (buf[s + 12] !== SP) throw new HttpParseError(502, "Malformed upstream status line");
  let high = 0;
  for (let i = s + 13; i < cr; i++) {
    if (FIELD_BYTE[buf[i]] === 0) throw new HttpParseError(502, "Invalid byte in reason phrase");
    high |= buf[i];
  }
  return { version, status, reason: latin1(buf, s + 13, cr, high < 0x80) };
}

/** Reads `HTTP/d.d` spanning exactly [s, e); null when it is not that shape. */
function readVersion(buf: Uint8Array, s: number, e: number): string | null {
  if (e - s !== 8) return null;
  // "HTTP/" then DIGIT "." DIGIT; the name is case-sensitive (RFC 9112 §2.3).
  if (buf[s] !== 0x48 || buf[s + 1] !== 0x54 || buf[s + 2] !== 0x54 || buf[s + 3] !== 0x50) {
    return null;
  }
  const major = buf[s + 5] - 0x30;
  const minor = buf[s + 7] - 0x30;
  if (buf[s + 4] !== 0x2f || buf[s + 6] !== 0x2e) return null;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return null;
  return `HTTP/${major}.${minor}`;
}

const asciiDecoder = new TextDecoder();

/**
 * Decodes bytes as ISO-8859-1 (one byte, one code unit). TextDecoder's "latin1" is really
 * windows-1252, so it is never used; for long all-ASCII runs the UTF-8 decoder is byte-identical
 * and much faster than a loop.
 */
export function latin1(buf: Uint8Array, s: number, e: number, ascii: boolean): string {
  if (ascii && e - s > ASCII_DECODE_FROM) return asciiDecoder.decode(buf.subarray(s, e));
  return e - s <= INTERNED_MAX ? internedLatin1(buf, s, e) : builtLatin1(buf, s, e);
}

/**
 * All-ASCII runs longer than this are decoded by the runtime rather than built in a loop, unless
 * they are header names: names repeat, so they stay in the interned table up to its limit.
 */
const ASCII_DECODE_FROM = 32;

/** The bytes as code units, built a character at a time (short runs; see `latin1`). */
function builtLatin1(buf: Uint8Array, s: number, e: number): string {
  let out = "";
  for (let i = s; i < e; i++) out += String.fromCharCode(buf[i]);
  return out;
}

/**
 * Short strings of heads, kept by a hash of their bytes: most names and many values repeat from
 * one request to the next (`Host`, `User-Agent`, `Accept`), and building one costs an allocation
 * per character. A slot holds the last string that hashed to it; a different string in the slot
 * is a miss, never a wrong answer (its bytes are compared), so colliding texts cost only speed.
 */
const INTERNED = new Array<string>(1024).fill("");
/** Longer strings are built each time: the table stays small (at most 1,024 × 64 characters). */
const INTERNED_MAX = 64;

/** FNV-1a's 32-bit prime: the interned table's hash of a run of bytes. */
const FNV_PRIME = 0x01000193;

function internedLatin1(buf: Uint8Array, s: number, e: number): string {
  let h = 0;
  for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
  return interned(buf, s, e, h);
}

/**
 * The interned string of the bytes `[s, e)`, whose hash the caller worked out (a field's bytes are
 * hashed as they are checked).
 */
function interned(buf: Uint8Array, s: number, e: number, bytesHash: number): string {
  const length = e - s;
  const h = Math.imul(bytesHash ^ length, FNV_PRIME);
  const slot = (h ^ (h >>> 15)) & (INTERNED.length - 1);
  const known = INTERNED[slot];
  if (known.length === length) {
    let i = 0;
    while (i < length && known.charCodeAt(i) === buf[s + i]) i++;
    if (i === length) return known;
  }
  return INTERNED[slot] = builtLatin1(buf, s, e);
}

function hex2(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, "0");
}
