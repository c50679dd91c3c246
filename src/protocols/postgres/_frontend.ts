/**
 * PostgreSQL wire protocol 3.0, client side: an incremental, strict decoder for what a client
 * sends (untyped startup-phase packets, then typed messages).
 *
 * Pure: no I/O. Every message comes with `raw`, its exact bytes, so a proxy can forward what it
 * inspected unchanged. Validation follows the server (src/backend/tcop/postgres.c,
 * postmaster/backend_startup.c): a message whose fields do not fill its body exactly is refused,
 * since a proxy and a server that disagree on where a field ends is how smuggling starts.
 *
 * Text is decoded as UTF-8 with replacement (not fatal): invalid bytes become U+FFFD. That is only
 * faithful while the session's client_encoding is UTF8, which the session driver must enforce.
 *
 * @module
 */

import { ByteQueue } from "./_encode.ts";

/** A protocol violation; `code` is the SQLSTATE to report (08P01, or 54000 for oversize). */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  /** @param code SQLSTATE: "08P01" protocol_violation, "54000" program_limit_exceeded. */
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/** A packet of the startup phase (no type byte). `raw` is the whole packet. */
export type StartupPacket =
  /** StartupMessage: params in order, duplicates kept (the server lets the last one win). */
  | { kind: "startup"; major: number; minor: number; params: [string, string][]; raw: Uint8Array }
  /**
   * SSLRequest. Bytes already buffered after it (see {@linkcode FrontendDecoder.buffered}) were
   * sent before TLS and must be refused, not read as if protected (CVE-2021-23222).
   */
  | { kind: "ssl_request"; raw: Uint8Array }
  /** GSSENCRequest; the same pre-encryption caveat as ssl_request applies. */
  | { kind: "gssenc_request"; raw: Uint8Array }
  /** CancelRequest; `secret` is 4 bytes in protocol 3.0, up to 256 in 3.2. */
  | { kind: "cancel"; pid: number; secret: Uint8Array; raw: Uint8Array };

/** A typed client message. `raw` is the whole message: type byte, length and body. */
export type FrontendMessage =
  | { type: "query"; sql: string; raw: Uint8Array }
  | { type: "parse"; name: string; sql: string; paramTypes: number[]; raw: Uint8Array }
  | {
    type: "bind";
    portal: string;
    statement: string;
    paramFormats: number[];
    /** Views into `raw`; null for SQL NULL (length -1). */
    params: (Uint8Array | null)[];
    resultFormats: number[];
    raw: Uint8Array;
  }
  /** `maxRows` 0 means all rows. */
  | { type: "execute"; portal: string; maxRows: number; raw: Uint8Array }
  | { type: "describe"; target: "S" | "P"; name: string; raw: Uint8Array }
  | { type: "close"; target: "S" | "P"; name: string; raw: Uint8Array }
  | { type: "sync"; raw: Uint8Array }
  | { type: "flush"; raw: Uint8Array }
  | { type: "terminate"; raw: Uint8Array }
  /** FunctionCall: fully validated, only the function's OID is returned. */
  | { type: "function_call"; oid: number; raw: Uint8Array }
  | { type: "copy_data"; raw: Uint8Array }
  | { type: "copy_done"; raw: Uint8Array }
  | { type: "copy_fail"; message: string; raw: Uint8Array }
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: `data` is the body. */
  | { type: "password"; data: Uint8Array; raw: Uint8Array };

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_CANCEL_KEY = 256;

// Per type byte: 0 unknown, 1 has a body, 2 body must be empty (so length is checked at the header).
const KIND = new Uint8Array(256);
for (const c of "QPBEDCFdfp") KIND[c.charCodeAt(0)] = 1;
for (const c of "SHXc") KIND[c.charCodeAt(0)] = 2;

/**
 * Incremental decoder of client bytes: push bytes as they arrive, pull whole messages. The caller
 * decides the phase: {@linkcode nextStartup} until the startup packet, {@linkcode next} after.
 * Returned `raw`/`params`/`data` views stay valid after later pushes. After a
 * {@linkcode ProtocolError} the decoder is unusable: every later call rethrows that error.
 *
 * A TLS ClientHello sent without SSLRequest (PostgreSQL 17's sslnegotiation=direct) is not a
 * startup packet; the caller must check for its first byte (0x16) before pushing.
 *
 * @example
 * ```ts
 * const d = new FrontendDecoder({ maxMessageBytes: 1 << 20 });
 * d.push(startupMessage([["user", "app"]])); // bytes as they arrive, split anywhere
 * d.nextStartup(); // { kind: "startup", major: 3, minor: 0, params: [["user", "app"]], raw }
 * d.push(query("select 1"));
 * for (let m = d.next(); m !== null; m = d.next()) upstream.write(m.raw); // m.type === "query"
 * ```
 */
export class FrontendDecoder {
  #queue = new ByteQueue();
  #failed: ProtocolError | null = null;
  readonly #maxMessage: number;
  readonly #maxStartup: number;

  /**
   * @param options.maxMessageBytes largest accepted length word of a typed message (it counts
   *   itself and the body, not the type byte); at most 2^31-1.
   * @param options.maxStartupBytes largest startup packet, length word included. @default {10000}
   */
  constructor(options: { maxMessageBytes: number; maxStartupBytes?: number }) {
    this.#maxMessage = limit(options.maxMessageBytes, "maxMessageBytes");
    this.#maxStartup = limit(options.maxStartupBytes ?? 10000, "maxStartupBytes");
  }

  /** Queues `chunk`. It is kept by reference: do not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    this.#queue.push(chunk);
  }

  /** Bytes buffered but not yet returned. */
  get buffered(): number {
    return this.#queue.length;
  }

  /** The next startup-phase packet, or null until it is complete. Throws {@linkcode ProtocolError}. */
  nextStartup(): StartupPacket | null {
    if (this.#failed) throw this.#failed;
    const q = this.#queue;
    if (q.length < 4) return null;
    const len = q.uint32At(0);
    if (len < 8) this.#fail(`invalid length of startup packet: ${len}`);
    if (len > this.#maxStartup) {
      this.#fail(`startup packet length ${len} exceeds the limit of ${this.#maxStartup}`, "54000");
    }
    if (q.length < len) return null;
    const raw = q.take(len);
    const code = u32(raw, 4);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      if (len !== 8) this.#fail(`invalid length of encryption request packet: ${len}`);
      return { kind: code === SSL_REQUEST ? "ssl_request" : "gssenc_request", raw };
    }
    if (code === CANCEL_REQUEST) {
      if (len < 16 || len > 12 + MAX_CANCEL_KEY) {
        this.#fail(`invalid length of cancel request: ${len}`);
      }
      return { kind: "cancel", pid: u32(raw, 8) | 0, secret: raw.subarray(12), raw };
    }
    const major = code >>> 16;
    const minor = code & 0xffff;
    if (major !== 3) {
      if (major === 1234) this.#fail(`unknown startup request code ${minor}`);
      this.#fail(`unsupported frontend protocol ${major}.${minor}`, "0A000");
    }
    const params: [string, string][] = [];
    let p = 8;
    for (;;) {
      if (p >= len) this.#fail("invalid startup packet layout: missing terminator");
      if (raw[p] === 0) {
        if (p !== len - 1) {
          this.#fail("invalid startup packet layout: expected terminator as last byte");
        }
        break;
      }
      const nameEnd = raw.indexOf(0, p);
      const valueEnd = nameEnd < 0 ? -1 : raw.indexOf(0, nameEnd + 1);
      if (valueEnd < 0) this.#fail("invalid startup packet layout: unterminated parameter");
      params.push([text(raw, p, nameEnd), text(raw, nameEnd + 1, valueEnd)]);
      p = valueEnd + 1;
    }
    return { kind: "startup", major, minor, params, raw };
  }

  /** The next typed message, or null until it is complete. Throws {@linkcode ProtocolError}. */
  next(): FrontendMessage | null {
    if (this.#failed) throw this.#failed;
    const q = this.#queue;
    if (q.length === 0) return null;
    const type = q.byteAt(0);
    const kind = KIND[type];
    if (kind === 0) this.#fail(`invalid frontend message type ${type}`);
    if (q.length < 5) return null;
    // Checked from the header alone, so an oversize message is refused before its body arrives.
    const len = q.uint32At(1);
    if (len < 4) this.#fail(`invalid message length ${len}`);
    if (len > this.#maxMessage) {
      this.#fail(`message length ${len} exceeds the limit of ${this.#maxMessage} bytes`, "54000");
    }
    if (kind === 2 && len !== 4) {
      this.#fail(
        `invalid message format (type ${String.fromCharCode(type)}): length ${len}, not 4`,
      );
    }
    if (q.length <= len) return null;
    const raw = q.take(len + 1);
    try {
      return decode(type, raw);
    } catch (e) {
      if (e instanceof ProtocolError) this.#failed = e;
      throw e;
    } finally {
      buf = EMPTY; // the cursor must not keep the message's chunk alive
    }
  }

  #fail(message: string, code = "08P01"): never {
    throw (this.#failed = new ProtocolError(message, code));
  }
}

function limit(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 4 || n > 0x7fffffff) throw new RangeError(`${name}: ${n}`);
  return n;
}

// Text: the common case is short ASCII (names, often empty), which a loop decodes faster than a
// TextDecoder call. ignoreBOM keeps a leading U+FEFF in the string, as it is in the bytes.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function text(b: Uint8Array, start: number, end: number): string {
  if (start === end) return "";
  if (end - start <= 32) {
    let s = "";
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c >= 0x80) return decoder.decode(b.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return decoder.decode(b.subarray(start, end));
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function bad(type: number, what: string): never {
  throw new ProtocolError(
    `invalid message format (type ${String.fromCharCode(type)}): ${what}`,
    "08P01",
  );
}

const Q = 0x51, P = 0x50, B = 0x42, E = 0x45, D = 0x44, C = 0x43, F = 0x46, S = 0x53;
const H = 0x48, X = 0x58, COPY_DATA = 0x64, COPY_DONE = 0x63, COPY_FAIL = 0x66;

// Cursor over the message being decoded. Module state rather than per-call closures: decode() is
// synchronous and never re-entered, and this keeps the hot path free of allocations.
const EMPTY = new Uint8Array(0);
let buf: Uint8Array = EMPTY;
let pos = 0;
let msgType = 0;

function need(n: number): void {
  if (pos + n > buf.length) bad(msgType, "insufficient data left in message");
}

function cstring(): string {
  const z = buf.indexOf(0, pos);
  if (z < 0) bad(msgType, "unterminated string");
  const s = text(buf, pos, z);
  pos = z + 1;
  return s;
}

function u16(): number {
  need(2);
  return (buf[pos++] << 8) | buf[pos++];
}

function int32(): number {
  need(4);
  const v = (buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3];
  pos += 4;
  return v;
}

function done<T>(m: T): T {
  if (pos !== buf.length) bad(msgType, "trailing bytes in message");
  return m;
}

// Formats (int16 list) and values (int32 length + bytes, -1 = NULL) of Bind and FunctionCall.
// Counts are checked against the bytes left before anything is allocated.
function formats(): number[] {
  const n = u16();
  need(2 * n);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((u16() << 16) >> 16);
  return out;
}

function values(nFormats: number): (Uint8Array | null)[] {
  const n = u16();
  need(4 * n);
  if (nFormats > 1 && nFormats !== n) bad(msgType, `${nFormats} parameter formats but ${n} values`);
  const out: (Uint8Array | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = int32();
    if (len < -1) bad(msgType, `invalid parameter length ${len}`);
    if (len === -1) out.push(null);
    else {
      need(len);
      out.push(buf.subarray(pos, pos += len));
    }
  }
  return out;
}

/** Decodes one whole message; counts are uint16 and OIDs/maxRows uint32, as the server reads them. */
function decode(type: number, raw: Uint8Array): FrontendMessage {
  buf = raw;
  pos = 5;
  msgType = type;
  switch (type) {
    case Q:
      return done({ type: "query", sql: cstring(), raw });
    case P: {
      const name = cstring();
      const sql = cstring();
      const n = u16();
      need(4 * n);
      const paramTypes: number[] = [];
      for (let i = 0; i < n; i++) paramTypes.push(int32() >>> 0);
      return done({ type: "parse", name, sql, paramTypes, raw });
    }
    case B: {
      const portal = cstring();
      const statement = cstring();
      const paramFormats = formats();
      const params = values(paramFormats.length);
      const resultFormats = formats();
      return done({ type: "bind", portal, statement, paramFormats, params, resultFormats, raw });
    }
    case E:
      return done({ type: "execute", portal: cstring(), maxRows: int32() >>> 0, raw });
    case D:
    case C: {
      need(1);
      const t = raw[pos++];
      if (t !== S && t !== P) bad(type, `invalid target ${t}`);
      const target = t === S ? "S" : "P";
      const name = cstring();
      return done(
        type === D ? { type: "describe", target, name, raw } : { type: "close", target, name, raw },
      );
    }
    case S:
      return { type: "sync", raw };
    case H:
      return { type: "flush", raw };
    case X:
      return { type: "terminate", raw };
    case COPY_DONE:
      return { type: "copy_done", raw };
    case F: {
      const oid = int32() >>> 0;
      values(formats().length);
      u16(); // result format
      return done({ type: "function_call", oid, raw });
    }
    case COPY_DATA:
      return { type: "copy_data", raw };
    case COPY_FAIL:
      return done({ type: "copy_fail", message: cstring(), raw });
    default: // 'p': its layout depends on the authentication exchange, which the caller knows
      return { type: "password", data: raw.subarray(5), raw };
  }
}
