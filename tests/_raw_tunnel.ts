/**
 * Raw-socket clients for the forward proxy, for tests that must send bytes no HTTP library would:
 * a plain TCP connection to the proxy port, a CONNECT tunnel left raw (for non-TLS garbage), or a
 * CONNECT tunnel with TLS to the gateway's minted certificate. Every read has a deadline, so a
 * gateway that stalls fails the test instead of hanging it.
 *
 * @module
 */

import type { ProxyFixture } from "./_proxy_fixture.ts";

/** Deadline for one read when none is given. */
export const READ_TIMEOUT_MS = 5_000;

/** One response as read off the wire. */
export interface RawResponse {
  status: number;
  reason: string;
  /** Header fields as sent, in order. */
  headers: [string, string][];
  /** The body, framing removed, decoded as ISO-8859-1. */
  body: string;
}

/** The JSON body of a gateway-made response (denials and protocol errors). */
export interface GatewayBody {
  error: string;
  reason: string;
  rule?: string | null;
  receipt: string | null;
}

/** Options for {@linkcode RawConn.readResponse}. */
export interface ReadResponseOptions {
  /** Deadline for the whole response. @default {5000} */
  timeoutMs?: number;
  /** The request's method: a response to HEAD has no body. @default {"GET"} */
  method?: string;
}

/**
 * Bytes of a string whose code units are all ≤ 0xFF, one byte each (ISO-8859-1), so tests can
 * write raw control bytes and obs-text as `"\x00"`, `"\x01"`, `"\xff"`.
 *
 * @example
 * ```ts
 * latin1Bytes("a\x00b"); // Uint8Array [0x61, 0x00, 0x62]
 * ```
 */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`Character U+${c.toString(16)} is not one byte`);
    out[i] = c;
  }
  return out;
}

function latin1Text(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode(...b.subarray(i, Math.min(i + 4096, b.length)));
  }
  return s;
}

/**
 * `Basic base64(name:token)` for `Proxy-Authorization`.
 *
 * @example
 * ```ts
 * proxyAuthorization("bot", "tok"); // "Basic Ym90OnRvaw=="
 * ```
 */
export function proxyAuthorization(name: string, token: string): string {
  return `Basic ${btoa(`${name}:${token}`)}`;
}

/** The first `name` header value (case-insensitive), or `undefined`. */
export function header(res: RawResponse, name: string): string | undefined {
  const lower = name.toLowerCase();
  return res.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

/** The body of a gateway-made response, parsed. */
export function gatewayBody(res: RawResponse): GatewayBody {
  return JSON.parse(res.body);
}

/** A response that did not arrive, or arrived malformed. */
export class RawReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RawReadError";
  }
}

const CRLFCRLF = latin1Bytes("\r\n\r\n");

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * A connection with a background reader: bytes pile up in a buffer as they arrive, so a read can
 * wait with a deadline and a test can tell when the gateway closed the connection.
 */
export class RawConn {
  readonly #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  #eof = false;
  #wake: (() => void) | undefined;
  readonly #reader: Promise<void>;

  /** Wraps `conn`; `pending` is data already read off it. */
  constructor(conn: Deno.Conn, pending: Uint8Array = new Uint8Array(0)) {
    this.#conn = conn;
    this.#buf = pending;
    this.#reader = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        const next = new Uint8Array(this.#buf.length + n);
        next.set(this.#buf);
        next.set(chunk.subarray(0, n), this.#buf.length);
        this.#buf = next;
        this.#notify();
      }
    } catch {
      // A reset or a TLS error ends the stream just like EOF does, for these tests.
    }
    this.#eof = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits for more bytes or EOF; false when the deadline passed first. */
  async #more(deadline: number): Promise<boolean> {
    if (this.#eof) return false;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await new Promise<boolean>((resolve) => {
      this.#wake = () => resolve(false);
      timer = setTimeout(() => resolve(true), left);
    });
    clearTimeout(timer);
    this.#wake = undefined;
    return !timedOut;
  }

  /** True once the peer closed (or reset) the connection. */
  get closed(): boolean {
    return this.#eof;
  }

  /** Writes all of `data` (strings as ISO-8859-1 bytes); throws if the connection is gone. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? latin1Bytes(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Like {@linkcode send}, but reports a connection the gateway already closed as `false`. */
  async trySend(data: string | Uint8Array): Promise<boolean> {
    try {
      await this.send(data);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Reads one response: status line, headers, then a body framed by Content-Length, chunked, or
   * (for neither) the connection's end. Throws {@linkcode RawReadError} on a deadline or EOF.
   */
  async readResponse(options: ReadResponseOptions = {}): Promise<RawResponse> {
    const deadline = performance.now() + (options.timeoutMs ?? READ_TIMEOUT_MS);
    let end: number;
    while ((end = indexOf(this.#buf, CRLFCRLF)) < 0) {
      if (!(await this.#more(deadline))) {
        throw new RawReadError(
          `No response head ${this.#eof ? "before EOF" : "in time"}; got ${
            JSON.stringify(latin1Text(this.#buf.subarray(0, 200)))
          }`,
        );
      }
    }
    const lines = latin1Text(this.#buf.subarray(0, end)).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) throw new RawReadError(`Malformed status line ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers: [string, string][] = lines.slice(1).map((l) => {
      const colon = l.indexOf(":");
      return [l.slice(0, colon), l.slice(colon + 1).trim()];
    });
    const res = { status, reason: m[2] ?? "", headers, body: "" };
    let at = end + 4;
    const get = (name: string) => header(res, name);
    const noBody = options.method === "HEAD" || status < 200 || status === 204 ||
      status === 304;
    if (noBody) {
      this.#buf = this.#buf.subarray(at);
    } else if (get("transfer-encoding")?.toLowerCase() === "chunked") {
      const parts: Uint8Array[] = [];
      for (;;) {
        const lineEnd = indexOf(this.#buf, CRLFCRLF.subarray(0, 2), at);
        if (lineEnd < 0) {
          if (!(await this.#more(deadline))) throw new RawReadError("Chunked body cut short");
          continue;
        }
        const size = parseInt(latin1Text(this.#buf.subarray(at, lineEnd)).split(";")[0], 16);
        if (Number.isNaN(size)) throw new RawReadError("Malformed chunk size");
        const dataEnd = lineEnd + 2 + size;
        const need = size === 0 ? lineEnd + 4 : dataEnd + 2;
        while (this.#buf.length < need) {
          if (!(await this.#more(deadline))) throw new RawReadError("Chunked body cut short");
        }
        if (size === 0) {
          at = need;
          break;
        }
        parts.push(this.#buf.slice(lineEnd + 2, dataEnd));
        at = need;
      }
      res.body = parts.map(latin1Text).join("");
      this.#buf = this.#buf.subarray(at);
    } else if (get("content-length") !== undefined) {
      const length = Number(get("content-length"));
      while (this.#buf.length < at + length) {
        if (!(await this.#more(deadline))) throw new RawReadError("Body cut short");
      }
      res.body = latin1Text(this.#buf.subarray(at, at + length));
      this.#buf = this.#buf.subarray(at + length);
    } else {
      while (!this.#eof) {
        if (!(await this.#more(deadline)) && !this.#eof) {
          throw new RawReadError("Close-delimited body did not end in time");
        }
      }
      res.body = latin1Text(this.#buf.subarray(at));
      this.#buf = new Uint8Array(0);
    }
    return res;
  }

  /** Waits up to `timeoutMs` for the peer to close; true when it did. */
  async waitClosed(timeoutMs = READ_TIMEOUT_MS): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#eof && await this.#more(deadline)) {
      // Data that arrives meanwhile is kept for the caller.
    }
    return this.#eof;
  }

  /** Closes our side and waits for the background reader to stop. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#reader;
  }
}

/** Options for {@linkcode openConnect} and {@linkcode openTunnel}. */
export interface TunnelOptions {
  /** The CONNECT target's host. @default {"api.test"} */
  host?: string;
  /** @default {443} */
  port?: number;
  /** The agent's name. @default {fx.agent} */
  agent?: string;
  /** The agent's token. @default {fx.token} */
  token?: string;
  /** Deadline for the CONNECT answer and the TLS handshake. @default {5000} */
  timeoutMs?: number;
}

/**
 * A plain TCP connection to the proxy port, nothing sent yet.
 *
 * @example
 * ```ts
 * const c = await openProxy(fx);
 * await c.send("GET http://api.test/ HTTP/1.1\r\nHost: api.test\r\n\r\n");
 * ```
 */
export async function openProxy(fx: ProxyFixture): Promise<RawConn> {
  return new RawConn(await Deno.connect({ hostname: "127.0.0.1", port: fx.proxyPort }));
}

/** Reads exactly the CONNECT answer's head off `conn` (nothing more), with a deadline. */
async function readConnectAnswer(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RawReadError("No CONNECT answer in time")), timeoutMs);
  });
  let head = "";
  const one = new Uint8Array(1);
  try {
    // Byte by byte, so no tunnel bytes are read past the head; it is ~40 bytes.
    while (!head.endsWith("\r\n\r\n")) {
      const n = await Promise.race([conn.read(one), deadline]);
      if (n === null) throw new RawReadError(`CONNECT answer cut short: ${JSON.stringify(head)}`);
      head += String.fromCharCode(one[0]);
    }
  } finally {
    clearTimeout(timer);
  }
  return head;
}

async function connectRaw(fx: ProxyFixture, options: TunnelOptions): Promise<Deno.TcpConn> {
  const host = options.host ?? "api.test";
  const port = options.port ?? 443;
  const auth = proxyAuthorization(options.agent ?? fx.agent, options.token ?? fx.token);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: fx.proxyPort });
  try {
    const request = `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
      `Proxy-Authorization: ${auth}\r\n\r\n`;
    await conn.write(latin1Bytes(request));
    const head = await readConnectAnswer(conn, options.timeoutMs ?? READ_TIMEOUT_MS);
    if (!head.startsWith("HTTP/1.1 200 ")) {
      throw new RawReadError(`CONNECT refused: ${JSON.stringify(head)}`);
    }
    return conn;
  } catch (err) {
    conn.close();
    throw err;
  }
}

/**
 * A CONNECT tunnel through the proxy left as raw TCP after `200 Connection Established`: what the
 * test sends is what the gateway's TLS layer receives.
 */
export async function openConnect(fx: ProxyFixture, options: TunnelOptions = {}): Promise<RawConn> {
  return new RawConn(await connectRaw(fx, options));
}

/**
 * A CONNECT tunnel with TLS to the gateway (trusting its CA), ready for raw HTTP/1.1 bytes.
 *
 * @example
 * ```ts
 * const t = await openTunnel(fx);
 * await t.send("GET / HTTP/1.1\r\nHost: api.test\r\n\r\n");
 * const res = await t.readResponse();
 * ```
 */
export async function openTunnel(fx: ProxyFixture, options: TunnelOptions = {}): Promise<RawConn> {
  const host = options.host ?? "api.test";
  const conn = await connectRaw(fx, options);
  const ca = await Deno.readTextFile(fx.caFile);
  const tls = await Deno.startTls(conn, { hostname: host, caCerts: [ca] });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      tls.handshake(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RawReadError("TLS handshake with the gateway timed out")),
          options.timeoutMs ?? READ_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    tls.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return new RawConn(tls);
}
