/**
 * Raw-socket HTTP/1.1 for end-to-end proxy tests: open a CONNECT tunnel (TLS inside, trusting the
 * gateway CA), write requests by hand, read responses with Content-Length or chunked framing.
 * Every read is bounded by a deadline, so a gateway that stalls fails the test instead of hanging.
 *
 * @module
 */

import { concatBytes } from "../src/core/mod.ts";
import type { ProxyFixture } from "./_proxy_fixture.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long one read may wait before the test fails. @default {5_000} */
export const READ_TIMEOUT_MS = 5_000;

/** A response as read off the wire. */
export interface RawResponse {
  status: number;
  reason: string;
  /** Header fields in order, names as sent. */
  fields: [string, string][];
  headers: Headers;
  body: Uint8Array;
  /** The body as text. */
  text: string;
}

/** A request to write by hand. */
export interface RawRequest {
  method: string;
  target: string;
  /** @default {"api.test"} */
  host?: string;
  headers?: [string, string][];
  body?: string | Uint8Array;
}

/** A connection with a read buffer and deadlines on every read. */
export class RawConn {
  readonly conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  #eof = false;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Writes all of `data`. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** Reads more bytes into the buffer; `false` at end of stream. Closes and throws on timeout. */
  async fill(timeoutMs = READ_TIMEOUT_MS): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.close();
        reject(new Error(`No bytes from the gateway within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    let n: number | null;
    try {
      n = await Promise.race([this.conn.read(chunk), deadline]);
    } catch (err) {
      // A reset after the gateway's last response is end of stream for our purposes.
      if (err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BadResource) {
        n = null;
      } else {
        throw err;
      }
    } finally {
      clearTimeout(timer);
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#buf = concatBytes([this.#buf, chunk.subarray(0, n)]);
    return true;
  }

  /** Reads through the next CRLFCRLF and returns the head text (without it). */
  async readHeadText(timeoutMs = READ_TIMEOUT_MS): Promise<string> {
    for (;;) {
      const end = indexOf(this.#buf, CRLFCRLF);
      if (end >= 0) {
        const text = decoder.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.subarray(end + 4);
        return text;
      }
      if (!(await this.fill(timeoutMs))) {
        throw new Error(`Connection ended before a response head: ${decoder.decode(this.#buf)}`);
      }
    }
  }

  /** Reads one response head. */
  async readHead(timeoutMs = READ_TIMEOUT_MS): Promise<Omit<RawResponse, "body" | "text">> {
    const text = await this.readHeadText(timeoutMs);
    const [statusLine, ...lines] = text.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
    if (!m) throw new Error(`Not a status line: '${statusLine}'`);
    const fields = lines.map((l): [string, string] => {
      const at = l.indexOf(":");
      return [l.slice(0, at), l.slice(at + 1).trim()];
    });
    const headers = new Headers();
    for (const [k, v] of fields) headers.append(k, v);
    return { status: Number(m[1]), reason: m[2], fields, headers };
  }

  /** Reads exactly `n` bytes. */
  async readExactly(n: number, timeoutMs = READ_TIMEOUT_MS): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!(await this.fill(timeoutMs))) {
        throw new Error(`Connection ended after ${this.#buf.length} of ${n} bytes`);
      }
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Reads one CRLF-terminated line (without the CRLF). */
  async readLine(timeoutMs = READ_TIMEOUT_MS): Promise<string> {
    for (;;) {
      const end = indexOf(this.#buf, CRLF);
      if (end >= 0) {
        const line = decoder.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.subarray(end + 2);
        return line;
      }
      if (!(await this.fill(timeoutMs))) throw new Error("Connection ended mid-line");
    }
  }

  /** The next chunk of a chunked body, or `null` after the last chunk (and trailers). */
  async readChunk(timeoutMs = READ_TIMEOUT_MS): Promise<Uint8Array | null> {
    const sizeLine = await this.readLine(timeoutMs);
    const size = parseInt(sizeLine.split(";")[0], 16);
    if (Number.isNaN(size)) throw new Error(`Bad chunk size line '${sizeLine}'`);
    if (size === 0) {
      while ((await this.readLine(timeoutMs)) !== "");
      return null;
    }
    const data = await this.readExactly(size, timeoutMs);
    if ((await this.readLine(timeoutMs)) !== "") throw new Error("Chunk not followed by CRLF");
    return data;
  }

  /** Reads everything until the peer closes. */
  async readToEnd(timeoutMs = READ_TIMEOUT_MS): Promise<Uint8Array> {
    while (await this.fill(timeoutMs));
    const out = this.#buf;
    this.#buf = new Uint8Array(0);
    return out;
  }

  /** Reads one whole response (HEAD, 1xx, 204 and 304 have no body). */
  async readResponse(method = "GET", timeoutMs = READ_TIMEOUT_MS): Promise<RawResponse> {
    const head = await this.readHead(timeoutMs);
    let body: Uint8Array;
    const length = head.headers.get("content-length");
    if (
      method === "HEAD" || (head.status >= 100 && head.status < 200) || head.status === 204 ||
      head.status === 304
    ) {
      body = new Uint8Array(0);
    } else if (head.headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      const parts: Uint8Array[] = [];
      for (let c = await this.readChunk(timeoutMs); c; c = await this.readChunk(timeoutMs)) {
        parts.push(c);
      }
      body = concatBytes(parts);
    } else if (length !== null) {
      body = await this.readExactly(Number(length), timeoutMs);
    } else {
      body = await this.readToEnd(timeoutMs);
    }
    return { ...head, body, text: decoder.decode(body) };
  }

  /** Writes `req` and reads its response. */
  async request(req: RawRequest, timeoutMs = READ_TIMEOUT_MS): Promise<RawResponse> {
    await this.write(requestBytes(req));
    return await this.readResponse(req.method, timeoutMs);
  }

  /** Closes the connection; never throws. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** The wire bytes of `req`, with Host and (for a body) Content-Length added. */
export function requestBytes(req: RawRequest): Uint8Array {
  const body = typeof req.body === "string" ? encoder.encode(req.body) : req.body;
  const lines = [`${req.method} ${req.target} HTTP/1.1`, `Host: ${req.host ?? "api.test"}`];
  for (const [k, v] of req.headers ?? []) lines.push(`${k}: ${v}`);
  if (body) lines.push(`Content-Length: ${body.length}`);
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  return body ? concatBytes([head, body]) : head;
}

/** `Basic base64(name:token)` */
export function basic(name: string, token: string): string {
  return `Basic ${btoa(`${name}:${token}`)}`;
}

/** A plain TCP connection to the proxy port. */
export async function dialProxy(fx: ProxyFixture): Promise<RawConn> {
  return new RawConn(await Deno.connect({ hostname: "127.0.0.1", port: fx.proxyPort }));
}

/** Options for {@linkcode connect} and {@linkcode openTunnel}. */
export interface TunnelOptions {
  /** `host:port` to CONNECT to. @default {"api.test:443"} */
  authority?: string;
  /** Agent name. @default {fx.agent} */
  agent?: string;
  /** Agent token; `null` sends no Proxy-Authorization. @default {fx.token} */
  token?: string | null;
}

/** Sends CONNECT and reads the proxy's answer head; the connection stays open either way. */
export async function connect(
  fx: ProxyFixture,
  options: TunnelOptions = {},
): Promise<{ conn: RawConn; response: RawResponse }> {
  const authority = options.authority ?? "api.test:443";
  const token = options.token === undefined ? fx.token : options.token;
  const conn = await dialProxy(fx);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (token !== null) lines.push(`Proxy-Authorization: ${basic(options.agent ?? fx.agent, token)}`);
  await conn.write(lines.join("\r\n") + "\r\n\r\n");
  const head = await conn.readHead();
  // Only refusals carry a body; `200 Connection Established` is followed by the tunnel.
  const response = head.status === 200
    ? { ...head, body: new Uint8Array(0), text: "" }
    : { ...head, ...(await bodyOf(conn, head.headers)) };
  return { conn, response };
}

async function bodyOf(
  conn: RawConn,
  headers: Headers,
): Promise<{ body: Uint8Array; text: string }> {
  const length = headers.get("content-length");
  const body = length === null ? await conn.readToEnd() : await conn.readExactly(Number(length));
  return { body, text: decoder.decode(body) };
}

/** Opens a CONNECT tunnel and starts TLS in it, trusting the gateway CA; fails unless 200. */
export async function openTunnel(fx: ProxyFixture, options: TunnelOptions = {}): Promise<RawConn> {
  const authority = options.authority ?? "api.test:443";
  const { conn, response } = await connect(fx, options);
  if (response.status !== 200) {
    conn.close();
    throw new Error(`CONNECT ${authority} answered ${response.status}: ${response.text}`);
  }
  const hostname = authority.slice(0, authority.lastIndexOf(":"));
  const tls = await Deno.startTls(conn.conn as Deno.TcpConn, {
    hostname,
    caCerts: [await Deno.readTextFile(fx.caFile)],
  });
  return new RawConn(tls);
}

/** Hex SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

const CRLF = encoder.encode("\r\n");
const CRLFCRLF = encoder.encode("\r\n\r\n");

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
