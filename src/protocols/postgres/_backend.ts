/**
 * PostgreSQL wire protocol 3.0, server side: an incremental framer for what a server sends,
 * parsers for the few server messages the gateway reads, and encoders for the server messages the
 * gateway itself sends to clients.
 *
 * The framer only locates messages (type, body, raw): most server traffic is relayed unread, so
 * bodies are parsed on demand by the functions below. Pure: no I/O.
 *
 * @module
 */

import { ProtocolError } from "./_frontend.ts";
import { ByteQueue, Writer } from "./_encode.ts";

/** A server message located in a chunk: type byte and the body's bounds. */
export interface BackendFrame {
  /** Type byte as a char code ('R' = 0x52, ...). */
  type: number;
  /** The body: a view of `raw` after the 5-byte header. */
  body: Uint8Array;
  /** The whole message, to forward unchanged. */
  raw: Uint8Array;
}

/**
 * Incremental framer over server bytes: push bytes as they arrive, pull whole messages. Views
 * stay valid after later pushes. After a {@linkcode ProtocolError} every later call rethrows it.
 *
 * @example
 * ```ts
 * const f = new BackendFramer();
 * f.push(readyForQuery("I")); // server bytes as they arrive, split anywhere
 * for (let m = f.next(); m !== null; m = f.next()) {
 *   if (m.type === 0x5a) parseReadyForQuery(m.body); // 'Z' -> "I"
 * }
 * ```
 */
export class BackendFramer {
  #queue = new ByteQueue();
  #failed: ProtocolError | null = null;
  readonly #max: number;

  /**
   * @param options.maxMessageBytes largest accepted length word (body + 4); at most 2^31-1.
   *   @default {2 ** 30} (1 GiB: DataRows can be that large)
   */
  constructor(options: { maxMessageBytes?: number } = {}) {
    const max = options.maxMessageBytes ?? 2 ** 30;
    if (!Number.isInteger(max) || max < 4 || max > 0x7fffffff) {
      throw new RangeError(`maxMessageBytes: ${max}`);
    }
    this.#max = max;
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

  /** Removes and returns every buffered byte (a partial message included), for a new owner. */
  drain(): Uint8Array {
    const n = this.#queue.length;
    return n === 0 ? new Uint8Array(0) : this.#queue.take(n);
  }

  /** The next message, or null until it is complete. Throws {@linkcode ProtocolError}. */
  next(): BackendFrame | null {
    if (this.#failed) throw this.#failed;
    const q = this.#queue;
    if (q.length < 5) return null;
    const len = q.uint32At(1);
    if (len < 4) throw (this.#failed = new ProtocolError(`invalid message length ${len}`, "08P01"));
    if (len > this.#max) {
      throw (this.#failed = new ProtocolError(
        `server message length ${len} exceeds the limit of ${this.#max} bytes`,
        "54000",
      ));
    }
    if (q.length <= len) return null;
    const raw = q.take(len + 1);
    return { type: raw[0], body: raw.subarray(5), raw };
  }
}

// Parsers. Server messages are trusted no more than client ones: malformed bodies throw 08P01.

const decoder = new TextDecoder("utf-8", { ignoreBOM: true }); // not fatal: U+FFFD for bad bytes

function bad(what: string): never {
  throw new ProtocolError(`invalid server message: ${what}`, "08P01");
}

function cstringAt(body: Uint8Array, p: number, what: string): [string, number] {
  const z = body.indexOf(0, p);
  if (z < 0) bad(`unterminated ${what}`);
  return [decoder.decode(body.subarray(p, z)), z + 1];
}

function int32At(body: Uint8Array, p: number): number {
  return (body[p] << 24) | (body[p + 1] << 16) | (body[p + 2] << 8) | body[p + 3];
}

/** ErrorResponse/NoticeResponse fields keyed by their one-letter code (S V C M D H P ...). */
export function parseErrorFields(body: Uint8Array): Map<string, string> {
  const fields = new Map<string, string>();
  let p = 0;
  for (;;) {
    if (p >= body.length) bad("error fields without terminator");
    const code = body[p++];
    if (code === 0) break;
    const [value, next] = cstringAt(body, p, "error field");
    fields.set(String.fromCharCode(code), value);
    p = next;
  }
  if (p !== body.length) bad("trailing bytes after error fields");
  return fields;
}

/**
 * Authentication request: `code` 0 ok, 3 cleartext, 5 md5 (`salt`), 10 SASL (`mechanisms`),
 * 11 SASLContinue and 12 SASLFinal (`data`); any other code comes with the rest as `data`.
 */
export function parseAuthentication(
  body: Uint8Array,
): { code: number; salt?: Uint8Array; mechanisms?: string[]; data?: Uint8Array } {
  if (body.length < 4) bad("authentication request too short");
  const code = int32At(body, 0);
  switch (code) {
    case 0:
    case 3:
      if (body.length !== 4) bad(`authentication request ${code} has a body`);
      return { code };
    case 5:
      if (body.length !== 8) bad("MD5 salt is not 4 bytes");
      return { code, salt: body.subarray(4) };
    case 10: {
      const mechanisms: string[] = [];
      let p = 4;
      for (;;) {
        if (p >= body.length) bad("SASL mechanism list without terminator");
        if (body[p] === 0) break;
        const [name, next] = cstringAt(body, p, "SASL mechanism");
        mechanisms.push(name);
        p = next;
      }
      if (p !== body.length - 1) bad("trailing bytes after SASL mechanisms");
      return { code, mechanisms };
    }
    default:
      return { code, data: body.subarray(4) };
  }
}

/** ParameterStatus: [name, value]. */
export function parseParameterStatus(body: Uint8Array): [string, string] {
  const [name, p] = cstringAt(body, 0, "parameter name");
  const [value, end] = cstringAt(body, p, "parameter value");
  if (end !== body.length) bad("trailing bytes in ParameterStatus");
  return [name, value];
}

/** BackendKeyData: `secret` is 4 bytes in protocol 3.0, up to 256 in 3.2. */
export function parseBackendKeyData(body: Uint8Array): { pid: number; secret: Uint8Array } {
  if (body.length < 8 || body.length > 4 + 256) bad(`BackendKeyData of ${body.length} bytes`);
  return { pid: int32At(body, 0), secret: body.subarray(4) };
}

/** ReadyForQuery: the transaction status (idle, in transaction, failed transaction). */
export function parseReadyForQuery(body: Uint8Array): "I" | "T" | "E" {
  const s = body.length === 1 ? String.fromCharCode(body[0]) : "";
  if (s !== "I" && s !== "T" && s !== "E") bad("invalid ReadyForQuery status");
  return s;
}

// Encoders. Field text is UTF-8; NULs are stripped because one would end the field early.

function noticeOrError(
  type: "E" | "N",
  f: { severity: string; code: string; message: string; detail?: string; hint?: string },
): Uint8Array {
  if (!/^[0-9A-Z]{5}$/.test(f.code)) throw new RangeError(`invalid SQLSTATE ${f.code}`);
  const clean = (s: string) => s.replaceAll("\0", "");
  const w = new Writer(type, 32 + f.message.length * 3);
  w.byte(0x53).cstring(f.severity).byte(0x56).cstring(f.severity); // S, and V (never localized)
  w.byte(0x43).cstring(f.code).byte(0x4d).cstring(clean(f.message));
  if (f.detail !== undefined) w.byte(0x44).cstring(clean(f.detail));
  if (f.hint !== undefined) w.byte(0x48).cstring(clean(f.hint));
  return w.byte(0).finish();
}

/** ErrorResponse with fields S, V, C, M and, if given, D and H. */
export function errorResponse(
  fields: {
    severity: "ERROR" | "FATAL";
    code: string;
    message: string;
    detail?: string;
    hint?: string;
  },
): Uint8Array {
  return noticeOrError("E", fields);
}

/** NoticeResponse with fields S, V, C, M and, if given, D. */
export function noticeResponse(
  fields: { severity: "NOTICE" | "WARNING"; code: string; message: string; detail?: string },
): Uint8Array {
  return noticeOrError("N", fields);
}

/** ReadyForQuery with transaction status `status`. */
export function readyForQuery(status: "I" | "T" | "E"): Uint8Array {
  return new Writer("Z", 6).byte(status.charCodeAt(0)).finish();
}

/** AuthenticationOk. */
export function authenticationOk(): Uint8Array {
  return new Writer("R", 9).int32(0).finish();
}

/** AuthenticationCleartextPassword. */
export function authenticationCleartextPassword(): Uint8Array {
  return new Writer("R", 9).int32(3).finish();
}

/** ParameterStatus. */
export function parameterStatus(name: string, value: string): Uint8Array {
  return new Writer("S").cstring(name).cstring(value).finish();
}

/** BackendKeyData: `secret` of 4 bytes for protocol 3.0 clients. */
export function backendKeyData(pid: number, secret: Uint8Array): Uint8Array {
  return new Writer("K", 9 + secret.length).int32(pid).bytes(secret).finish();
}

/** NegotiateProtocolVersion: the newest minor version supported and the options not recognized. */
export function negotiateProtocolVersion(minor: number, unsupportedOptions: string[]): Uint8Array {
  const w = new Writer("v").int32(0x30000 | minor).int32(unsupportedOptions.length);
  for (const o of unsupportedOptions) w.cstring(o);
  return w.finish();
}
