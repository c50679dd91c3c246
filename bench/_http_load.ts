/**
 * The HTTP bench's load generator: raw HTTP/1.1 over Deno's TLS, so the client costs the same on
 * every path (direct, or CONNECT through a proxy first), with latency samples and the CPU time
 * each process spends per request.
 *
 * @module
 */

import { HOST } from "./_http_setup.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A buffered reader/writer over one connection. */
export class Wire {
  readonly conn: Deno.Conn;
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Whether the last response read came chunked (scrubbed bodies are re-chunked). */
  lastChunked = false;
  /** The length of the last response's body as read (its chunks' total when chunked). */
  lastLength = 0;

  get buffered(): number {
    return this.#end - this.#start;
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  async #fill(): Promise<void> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = bigger;
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("Connection closed by the server");
    this.#end += n;
  }

  async #until(delimiter: string): Promise<string> {
    for (;;) {
      const text = dec.decode(this.#buf.subarray(this.#start, this.#end));
      const at = text.indexOf(delimiter);
      if (at >= 0) {
        // Heads and chunk lines are ASCII, so characters and bytes line up.
        this.#start += at + delimiter.length;
        return text.slice(0, at);
      }
      if (this.buffered > 64 * 1024) throw new Error("Response head too large");
      await this.#fill();
    }
  }

  async #skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.buffered === 0) await this.#fill();
      const take = Math.min(n, this.buffered);
      this.#start += take;
      n -= take;
    }
  }

  /** Reads one response; returns its status. Bodies are read and dropped. */
  async response(bodyless = false): Promise<number> {
    const head = (await this.#until("\r\n\r\n")).split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    let length: number | null = null;
    let chunked = false;
    for (let i = 1; i < head.length; i++) {
      const colon = head[i].indexOf(":");
      const name = head[i].slice(0, colon).toLowerCase();
      const value = head[i].slice(colon + 1).trim();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
    }
    this.lastChunked = chunked;
    this.lastLength = 0;
    if (bodyless) return status;
    if (chunked) {
      for (;;) {
        const size = parseInt((await this.#until("\r\n")).split(";")[0], 16);
        if (size === 0) {
          while ((await this.#until("\r\n")) !== "");
          break;
        }
        this.lastLength += size;
        await this.#skip(size + 2);
      }
    } else if (length !== null) {
      this.lastLength = length;
      await this.#skip(length);
    } else {
      throw new Error(`Response ${status} has neither Content-Length nor chunked encoding`);
    }
    return status;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer.
    }
  }
}

/** One way to reach the upstream. */
export interface Path {
  name: "direct" | "relay" | "gateway" | "mitmproxy";
  /** Processes whose CPU time the requests cost: the load generator, the proxy, the upstream. */
  pids: Record<string, number>;
  open(): Promise<Wire>;
}

/** TLS straight to the upstream, verified against its test CA. */
export function directPath(
  upstreamPort: number,
  caPem: string,
  pids: Record<string, number>,
): Path {
  return {
    name: "direct",
    pids,
    async open() {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
      tcp.setNoDelay(true);
      const tls = await Deno.startTls(tcp, { hostname: HOST, caCerts: [caPem] });
      await tls.handshake();
      return new Wire(tls);
    },
  };
}

/** Options for {@linkcode proxyPath}. */
export interface ProxyPathOptions {
  name: "relay" | "gateway" | "mitmproxy";
  proxyPort: number;
  /** `host:port` sent in CONNECT. */
  connectTarget: string;
  /** The proxy's CA, the only one the client trusts. */
  caPem: string;
  pids: Record<string, number>;
  /** `Proxy-Authorization` value, if the proxy wants one. */
  authorization?: string;
  /**
   * TLS server name inside the tunnel.
   * @default {HOST}
   */
  serverName?: string;
}

/** CONNECT through a proxy, then TLS inside the tunnel trusting only the proxy's CA. */
export function proxyPath(options: ProxyPathOptions): Path {
  const { name, proxyPort, connectTarget, caPem, pids, authorization } = options;
  const serverName = options.serverName ?? HOST;
  const connect = enc.encode(
    `CONNECT ${connectTarget} HTTP/1.1\r\nHost: ${connectTarget}\r\n` +
      (authorization ? `Proxy-Authorization: ${authorization}\r\n` : "") + "\r\n",
  );
  return {
    name,
    pids,
    async open() {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
      tcp.setNoDelay(true);
      const plain = new Wire(tcp);
      try {
        await plain.write(connect);
        const status = await plain.response(true);
        if (status !== 200) throw new Error(`CONNECT answered ${status}`);
        if (plain.buffered > 0) throw new Error("Bytes after the CONNECT response");
      } catch (err) {
        plain.close();
        throw err;
      }
      const tls = await Deno.startTls(tcp, { hostname: serverName, caCerts: [caPem] });
      await tls.handshake();
      return new Wire(tls);
    },
  };
}

/** The bench's GET to `host` (the upstream answers 52 bytes of JSON), plus `headers`. */
export function getRequest(host: string, headers: [string, string][] = []): Uint8Array {
  return enc.encode(
    `GET /items/42?fields=all HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: clawpatrol-bench/1\r\n` +
      `Accept: application/json\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`,
  );
}

/** The keep-alive GET every path sends. */
export const GET = getRequest(HOST);
/** A 1 KiB POST to /echo. */
export const POST = (() => {
  const head = enc.encode(
    `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nUser-Agent: clawpatrol-bench/1\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n`,
  );
  const out = new Uint8Array(head.length + 1024);
  out.set(head);
  out.fill(0x78, head.length);
  return out;
})();

/** One measurement of one path. */
export interface Cell {
  /** Requests (or connections) per second. */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  count: number;
  /** CPU µs per request in each process (load generator, proxy, upstream). */
  cpuUs: Record<string, number>;
  errors: number;
  firstError?: string;
}

/**
 * CPU time of the processes a measurement charges, read synchronously when the measured window
 * opens and closes (a saturated client event loop can starve timers, so no timer does it).
 */
class CpuMeter {
  readonly #pids: Record<string, number>;
  #opened: Record<string, number> | undefined;

  constructor(pids: Record<string, number>) {
    this.#pids = pids;
  }

  #read(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.#pids)) {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out[name] = (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 Hz ticks
    }
    return out;
  }

  /** Marks the window's start; later calls do nothing. */
  open(): void {
    this.#opened ??= this.#read();
  }

  /** CPU µs per request in each process since {@linkcode open}. */
  perRequest(requests: number): Record<string, number> {
    const end = this.#read();
    const start = this.#opened ?? end;
    const out: Record<string, number> = {};
    for (const name in end) out[name] = ((end[name] - start[name]) * 1000) / Math.max(1, requests);
    return out;
  }
}

/** Sorts `samples` (ms) and summarises them. */
export function cellOf(
  samples: number[],
  seconds: number,
  cpuUs: Record<string, number>,
  errors: number,
  firstError?: string,
): Cell {
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))];
  return {
    rate: samples.length / seconds,
    p50Ms: samples.length ? at(0.5) : NaN,
    p99Ms: samples.length ? at(0.99) : NaN,
    count: samples.length,
    cpuUs,
    errors,
    ...(firstError ? { firstError } : {}),
  };
}

/** Warm-up, then the measured window. */
export interface Timing {
  warmMs: number;
  runMs: number;
}

/** A measurement stops after this many failed requests. */
export const MAX_ERRORS = 50;

/** `connections` kept-alive connections, each sending `request` back to back. */
export async function keepAlive(
  path: Path,
  request: Uint8Array,
  connections: number,
  timing: Timing,
): Promise<Cell> {
  let errors = 0;
  let firstError: string | undefined;
  const failed = (err: unknown) => {
    errors++;
    firstError ??= String(err);
    return null;
  };
  const wires = await Promise.all(
    Array.from({ length: connections }, () => path.open().catch(failed)),
  );
  const start = performance.now() + timing.warmMs;
  const end = start + timing.runMs;
  const cpu = new CpuMeter(path.pids);
  const samples: number[] = [];
  let last = start;
  await Promise.all(wires.map(async (first) => {
    let wire = first;
    while (errors < MAX_ERRORS) {
      const t0 = performance.now();
      if (t0 >= end) break;
      if (t0 >= start) cpu.open();
      try {
        wire ??= await path.open();
        await wire.write(request);
        const status = await wire.response();
        if (status !== 200) throw new Error(`Status ${status}`);
        const t1 = performance.now();
        if (t0 >= start) samples.push(t1 - t0);
        last = Math.max(last, t1);
      } catch (err) {
        errors++;
        firstError ??= String(err);
        wire?.close();
        wire = null;
      }
    }
    wire?.close();
  }));
  return cellOf(samples, (last - start) / 1000, cpu.perRequest(samples.length), errors, firstError);
}

/** Each request on a new connection: TCP (+ CONNECT) + TLS handshake + one GET. */
export async function newConnections(path: Path, workers: number, timing: Timing): Promise<Cell> {
  const start = performance.now() + timing.warmMs;
  const end = start + timing.runMs;
  const cpu = new CpuMeter(path.pids);
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let last = start;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (errors < MAX_ERRORS) {
      const t0 = performance.now();
      if (t0 >= end) break;
      if (t0 >= start) cpu.open();
      let wire: Wire | undefined;
      try {
        wire = await path.open();
        await wire.write(GET);
        const status = await wire.response();
        if (status !== 200) throw new Error(`Status ${status}`);
        const t1 = performance.now();
        if (t0 >= start) samples.push(t1 - t0);
        last = Math.max(last, t1);
      } catch (err) {
        errors++;
        firstError ??= String(err);
      } finally {
        wire?.close();
      }
    }
  }));
  return cellOf(samples, (last - start) / 1000, cpu.perRequest(samples.length), errors, firstError);
}
