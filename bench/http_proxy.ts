/**
 * The HTTPS forward proxy side by side with a direct connection and with mitmproxy, in one run.
 *
 *     deno run -A bench/http_proxy.ts [--quick] [--connections=8] [--seconds=4] [--tunnels=1000]
 *                                      [--gateway-v8-flags=--prof,--logfile=/tmp/gateway.log]
 *
 * Four processes on loopback, so no two share an event loop: this one (the load generator), a
 * local HTTPS upstream with its own test CA, the gateway (100 rules on the endpoint, the matching
 * ones last, receipts written to SQLite as in production) and `mitmdump` with a trivial addon.
 * The gateway and mitmproxy both terminate the client's TLS and open verified TLS to the upstream;
 * "direct" is the client doing TLS straight to the upstream. Without `mitmdump` on PATH the
 * mitmproxy column is skipped.
 *
 * Measures keep-alive GET and 1 KiB POST (requests/s, p50/p99 over N connections), unloaded
 * keep-alive GET latency on one connection (the gateway's added p50), new connections per second
 * (TCP + CONNECT + TLS + one GET each), and the gateway's RSS holding idle kept-alive tunnels.
 * Targets: ≥ 5× mitmproxy's keep-alive GET rate; added p50 ≤ 0.5 ms over direct; ≤ 150 MB RSS
 * at 1,000 idle tunnels.
 *
 * @module
 */

import "reflect-metadata";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { createState, Gateway, type LogLevel } from "../src/gateway/mod.ts";
import { createGatewayCa, loadGatewayCa, mintLeaf } from "../src/tls/mod.ts";

const HOST = "api.test";
const RULES = 100;
const ROOT = join(import.meta.dirname!, "..");
const enc = new TextEncoder();
const dec = new TextDecoder();

// ---------------------------------------------------------------------------------------------
// Children: the upstream and the gateway, each in its own process.

/** Each rule reads facts a real policy reads; none matches the bench's requests but the last two. */
function ruleCondition(i: number): string {
  switch (i % 5) {
    case 0:
      return `http.method == 'post' && http.path.startsWith('/repos/org-${i}/')`;
    case 1:
      return `http.method in ['put', 'patch', 'delete'] && http.path.matches('^/orgs/o${i}/[a-z]+$')`;
    case 2:
      return `http.method == 'get' && http.path.startsWith('/api/v${i}/') && 'x-debug' in http.headers`;
    case 3:
      return `agent.profile == 'p${i}' && http.method == 'get'`;
    default:
      return `http.query.exists(k, k == 'token${i}') && http.host.endsWith('.h${i}.example.com')`;
  }
}

function gatewayConfig(upstreamPort: number): string {
  const rules: string[] = [];
  for (let i = 0; i < RULES - 2; i++) {
    rules.push(
      `rule "r${i}" {\n  endpoint  = https.api\n  condition = "${ruleCondition(i)}"\n` +
        `  verdict   = "${i % 2 ? "allow" : "deny"}"\n}`,
    );
  }
  rules.push(
    `rule "item-reads" {\n  endpoint  = https.api\n` +
      `  condition = "http.method == 'get' && http.path.startsWith('/items/')"\n  verdict   = "allow"\n}`,
    `rule "echo-posts" {\n  endpoint  = https.api\n` +
      `  condition = "http.method == 'post' && http.path == '/echo'"\n  verdict   = "allow"\n}`,
  );
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
}
endpoint "https" "api" {
  hosts    = ["${HOST}"]
  upstream = "127.0.0.1:${upstreamPort}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
profile "bots" {
  endpoints = [https.api]
}
${rules.join("\n")}
`;
}

/**
 * Answers the parent's commands on stdin until it closes: `mem` collects garbage (when the child
 * runs with --expose-gc) and prints the process's memory use as one JSON line.
 */
async function serveCommands(): Promise<void> {
  await drainLines(Deno.stdin.readable, (line) => {
    if (line !== "mem") return;
    (globalThis as { gc?: () => void }).gc?.();
    console.log(JSON.stringify(Deno.memoryUsage()));
  });
}

async function serveUpstream(dir: string): Promise<void> {
  const ca = await loadGatewayCa(join(dir, "upstream-ca"));
  const leaf = await mintLeaf(ca, HOST);
  const item = JSON.stringify({ id: 42, name: "widget", tags: ["a", "b"], ok: true });
  const respond = (body: string) =>
    enc.encode(
      `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
  const getResponse = respond(item);
  // A minimal HTTP/1.1 responder on node:tls rather than Deno.serve: Deno.serve's TLS sockets
  // keep Nagle on, so a response written just after TLS 1.3 session tickets waits ~40 ms for a
  // delayed ACK. That would punish every path that opens fresh upstream connections (direct,
  // mitmproxy) but not the gateway, which pools them. It is also cheaper per request, so the
  // upstream takes less of the two cores from whatever is being measured.
  const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) => {
    socket.setNoDelay(true);
    let pending = new Uint8Array(0);
    socket.on("data", (chunk: Uint8Array) => {
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
      pending = joined;
      for (;;) {
        const text = dec.decode(pending.subarray(0, Math.min(pending.length, 8192)));
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        socket.write(text.startsWith("POST") ? respond(JSON.stringify({ length })) : getResponse);
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port, pid: Deno.pid }));
  await serveCommands();
  server.close();
}

/**
 * Writes the gateway's config and state (CA, enrolled agent) in this process, as `init` and
 * `agent add` would in theirs, so the gateway process's memory is what serving alone holds.
 * Returns the agent's token.
 */
async function prepareGateway(dir: string, upstreamPort: number): Promise<string> {
  await Deno.writeTextFile(join(dir, "gateway.hcl"), gatewayConfig(upstreamPort));
  const stateDir = join(dir, "state");
  await createState(stateDir, false);
  return AgentRegistry.open(stateDir).add("bot", "bots");
}

async function serveGateway(dir: string): Promise<void> {
  const config = join(dir, "gateway.hcl");
  const log = {
    log(level: LogLevel, message: string, fields?: Record<string, unknown>) {
      if (level === "debug") return;
      console.error(`${level} ${message}${fields ? " " + JSON.stringify(fields) : ""}`);
    },
  };
  const gateway = await Gateway.start(config, { log, version: "bench", watch: false });
  console.log(JSON.stringify({ port: gateway.proxyAddress.port, pid: Deno.pid }));
  await serveCommands();
  await gateway.stop();
}

interface Child {
  process: Deno.ChildProcess;
  ready: Record<string, unknown>;
  /** stderr lines seen so far (capped). */
  lines: string[];
  /** Sends a command (see {@linkcode serveCommands}); resolves with the JSON line it prints. */
  ask(command: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Spawns this script in a serve mode; resolves with the JSON line it prints when ready. */
async function spawnSelf(args: string[], fdLimit: number, v8Flags = ""): Promise<Child> {
  const deno = Deno.execPath();
  const self = import.meta.filename!;
  // `ulimit -n` in a shell, then exec: the pid stays the deno process's, for /proc/<pid>/status.
  const script = `[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt ${fdLimit} ] && ` +
    `ulimit -n ${fdLimit} 2>/dev/null; exec "$0" run -A "$@"`;
  const process = new Deno.Command("sh", {
    args: ["-c", script, deno, ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []), self, ...args],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const drainErr = drainLines(process.stderr, (line) => {
    if (lines.length < 10_000) lines.push(line);
  });
  let drainOut: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answers: ((v: Record<string, number>) => void)[] = [];
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let started = false;
    drainOut = drainLines(process.stdout, (line) => {
      if (!line.startsWith("{")) return;
      if (started) return answers.shift()?.(JSON.parse(line));
      started = true;
      resolve(JSON.parse(line));
    });
    process.status.then((s) => {
      if (!started) {
        reject(
          new Error(`Child '${args[0]}' exited with ${s.code}: ${lines.slice(-5).join(" | ")}`),
        );
      }
    });
    timer = setTimeout(() => reject(new Error(`Child '${args[0]}' did not start in 30 s`)), 30_000);
  }).finally(() => clearTimeout(timer));
  const writer = process.stdin.getWriter();
  return {
    process,
    ready,
    lines,
    async ask(command) {
      const answer = new Promise<Record<string, number>>((r) => answers.push(r));
      await writer.write(enc.encode(command + "\n"));
      return answer;
    },
    async stop() {
      await writer.close().catch(() => {});
      const exited = await settlesWithin(process.status, 10_000);
      if (!exited) process.kill("SIGKILL");
      await process.status;
      await Promise.allSettled([drainErr, drainOut]);
    },
  };
}

async function drainLines(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void) {
  let rest = "";
  for await (const chunk of stream) {
    rest += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) onLine(rest);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether `promise` settles within `ms`, without a timer left running after. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// mitmproxy

interface Mitm {
  process: Deno.ChildProcess;
  port: number;
  caPem: string;
  lines: string[];
  stop(): Promise<void>;
}

async function hasMitmdump(): Promise<boolean> {
  try {
    const out = await new Deno.Command("mitmdump", { args: ["--version"], stdout: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function startMitm(dir: string): Promise<Mitm> {
  const port = freePort();
  const confdir = join(dir, "mitmproxy");
  const process = new Deno.Command("mitmdump", {
    args: [
      "-q",
      "--listen-host",
      "127.0.0.1",
      "--listen-port",
      String(port),
      "--set",
      `confdir=${confdir}`,
      "--set",
      "ssl_insecure=false",
      "--set",
      `ssl_verify_upstream_trusted_ca=${join(dir, "upstream-ca.pem")}`,
      "-s",
      join(ROOT, "bench", "_mitm_addon.py"),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const keep = (l: string) => void (lines.length < 10_000 && lines.push(l));
  const drains = [drainLines(process.stdout, keep), drainLines(process.stderr, keep)];
  const caFile = join(confdir, "mitmproxy-ca-cert.pem");
  for (let i = 0;; i++) {
    if (i > 300) {
      process.kill("SIGKILL");
      throw new Error(`mitmdump did not start in 30 s: ${lines.slice(-5).join(" | ")}`);
    }
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      await Deno.stat(caFile);
      break;
    } catch {
      await sleep(100);
    }
  }
  return {
    process,
    port,
    caPem: await Deno.readTextFile(caFile),
    lines,
    async stop() {
      process.kill("SIGTERM");
      const exited = await settlesWithin(process.status, 1_000);
      if (!exited) process.kill("SIGKILL");
      await process.status;
      await Promise.allSettled(drains);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The load generator: raw HTTP/1.1 over Deno's TLS, so the client costs the same on every path.

/** A buffered reader/writer over one connection. */
class Wire {
  readonly conn: Deno.Conn;
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

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
    if (bodyless) return status;
    if (chunked) {
      for (;;) {
        const size = parseInt((await this.#until("\r\n")).split(";")[0], 16);
        if (size === 0) {
          while ((await this.#until("\r\n")) !== "");
          break;
        }
        await this.#skip(size + 2);
      }
    } else if (length !== null) {
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
interface Path {
  name: "direct" | "gateway" | "mitmproxy";
  /** Processes whose CPU time the requests cost: the load generator, the proxy, the upstream. */
  pids: Record<string, number>;
  open(): Promise<Wire>;
}

function directPath(upstreamPort: number, caPem: string, pids: Record<string, number>): Path {
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

function proxyPath(
  name: "gateway" | "mitmproxy",
  proxyPort: number,
  connectTarget: string,
  caPem: string,
  pids: Record<string, number>,
  authorization?: string,
): Path {
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
      const tls = await Deno.startTls(tcp, { hostname: HOST, caCerts: [caPem] });
      await tls.handshake();
      return new Wire(tls);
    },
  };
}

const GET = enc.encode(
  `GET /items/42?fields=all HTTP/1.1\r\nHost: ${HOST}\r\nUser-Agent: clawpatrol-bench/1\r\n` +
    `Accept: application/json\r\n\r\n`,
);
const POST = (() => {
  const head = enc.encode(
    `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nUser-Agent: clawpatrol-bench/1\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n`,
  );
  const out = new Uint8Array(head.length + 1024);
  out.set(head);
  out.fill(0x78, head.length);
  return out;
})();

interface Cell {
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

function cellOf(
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

interface Timing {
  warmMs: number;
  runMs: number;
}

const MAX_ERRORS = 50;

/** `connections` kept-alive connections, each sending `request` back to back. */
async function keepAlive(
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
async function newConnections(path: Path, workers: number, timing: Timing): Promise<Cell> {
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

/**
 * A process's memory: RSS, split into private (anonymous) pages and file-backed pages (mostly the
 * executable's own code), and the V8 heap in use when the process can report it.
 */
interface Memory {
  rssMb: number;
  anonMb: number;
  fileMb: number;
  heapMb?: number;
}

/** RSS of a process from /proc/<pid>/status. */
function memoryOf(pid: number): Memory {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) / 1024;
  return { rssMb: mb("VmRSS"), anonMb: mb("RssAnon"), fileMb: mb("RssFile") };
}

/** The gateway's memory after a full GC (it runs with --expose-gc). */
async function gatewayMemory(gateway: Child): Promise<Memory> {
  const m = await gateway.ask("mem");
  return { ...memoryOf(gateway.ready.pid as number), heapMb: m.heapUsed / (1024 * 1024) };
}

interface Tunnels {
  tunnels: number;
  baseline: Memory;
  open: Memory;
  closed: Memory;
  kibPerTunnel: number;
  errors: number;
  firstError?: string;
}

/** Opens `count` tunnels with one GET each, holds them idle and reads the proxy's memory. */
async function idleTunnels(
  path: Path,
  memory: () => Promise<Memory>,
  count: number,
): Promise<Tunnels> {
  const baseline = await memory();
  const open: Wire[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < count && errors < MAX_ERRORS) {
      next++;
      try {
        const wire = await path.open();
        open.push(wire);
        await wire.write(GET);
        const status = await wire.response();
        if (status !== 200) throw new Error(`Status ${status}`);
      } catch (err) {
        errors++;
        firstError ??= String(err);
      }
    }
  }));
  await sleep(500); // Let the proxy settle (timers, buffers) before reading its memory.
  const held = await memory();
  for (const wire of open) wire.close();
  await sleep(500);
  const closed = await memory();
  return {
    tunnels: open.length,
    baseline,
    open: held,
    closed,
    kibPerTunnel: ((held.rssMb - baseline.rssMb) * 1024) / Math.max(1, open.length),
    errors,
    ...(firstError ? { firstError } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// The run

interface Options {
  quick: boolean;
  connections: number;
  timing: Timing;
  tunnels: number;
  /** Extra V8 flags for the gateway process (e.g. `--prof,--logfile=/tmp/gateway.log`). */
  gatewayV8Flags: string;
}

function parseOptions(args: string[]): Options {
  const quick = args.includes("--quick");
  const value = (name: string, fallback: number) => {
    const arg = args.find((a) => a.startsWith(`--${name}=`));
    if (!arg) return fallback;
    const n = Number(arg.slice(name.length + 3));
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`Cannot use '${arg}': not a number`);
    return n;
  };
  const seconds = value("seconds", quick ? 1 : 4);
  return {
    quick,
    connections: value("connections", 8),
    timing: { warmMs: quick ? 300 : 1_000, runMs: seconds * 1000 },
    tunnels: value("tunnels", 1000),
    gatewayV8Flags: args.find((a) => a.startsWith("--gateway-v8-flags="))?.slice(19) ?? "",
  };
}

type Row = Partial<Record<Path["name"], Cell>>;

interface Results {
  options: Options;
  /** "measured", or why the mitmproxy column is empty. */
  mitmproxy: string;
  get: Row;
  post: Row;
  single: Row;
  connect: Row;
  /** Gateway memory before any request, and after one. */
  gatewayReady?: Memory;
  gatewayStart?: Memory;
  gatewayTunnels?: Tunnels;
  mitmTunnels?: Tunnels;
  gatewayEnd?: Memory;
  gatewayLog: { errors: number; warnings: number; samples: string[] };
  mitmLog: { lines: number; samples: string[] };
}

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n) ? "–" : n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });

function table(r: Results): string {
  const paths: Path["name"][] = ["direct", "gateway", "mitmproxy"];
  const lines = ["| measure | direct | gateway | mitmproxy |", "|---|---:|---:|---:|"];
  const row = (label: string, cells: (string | undefined)[]) =>
    lines.push(`| ${label} | ${cells.map((c) => c ?? "–").join(" | ")} |`);
  const each = (label: string, x: Row, show: (c: Cell) => string) =>
    row(label, paths.map((p) => x[p] && show(x[p])));
  const rate = (c: Cell) => fmt(c.rate);
  const latency = (c: Cell) => `${fmt(c.p50Ms, 2)} / ${fmt(c.p99Ms, 2)}`;
  const cpu = (c: Cell) => fmt(c.cpuUs.proxy ?? c.cpuUs.upstream);
  const n = r.options.connections;
  each(`keep-alive GET, ${n} conns: req/s`, r.get, rate);
  each(`keep-alive GET, ${n} conns: p50 / p99 ms`, r.get, latency);
  each(`keep-alive GET: server CPU µs/req (proxy, or upstream for direct)`, r.get, cpu);
  each(`keep-alive 1 KiB POST, ${n} conns: req/s`, r.post, rate);
  each(`keep-alive 1 KiB POST, ${n} conns: p50 / p99 ms`, r.post, latency);
  each("keep-alive GET, 1 conn (unloaded): req/s", r.single, rate);
  each("keep-alive GET, 1 conn (unloaded): p50 / p99 ms", r.single, latency);
  each(`new connection + GET, ${n} workers: conn/s`, r.connect, rate);
  each(`new connection + GET, ${n} workers: p50 / p99 ms`, r.connect, latency);
  each("new connection: server CPU µs/conn", r.connect, cpu);
  const mem = (t?: Tunnels) => t && `${fmt(t.baseline.rssMb, 1)} → ${fmt(t.open.rssMb, 1)}`;
  row(`RSS MB: idle → ${r.options.tunnels} idle tunnels`, [
    undefined,
    mem(r.gatewayTunnels),
    mem(r.mitmTunnels),
  ]);
  row("RSS per idle tunnel, KiB", [
    undefined,
    r.gatewayTunnels && fmt(r.gatewayTunnels.kibPerTunnel, 1),
    r.mitmTunnels && fmt(r.mitmTunnels.kibPerTunnel, 1),
  ]);
  const errors = paths.map((p) =>
    [r.get, r.post, r.single, r.connect].reduce((sum, x) => sum + (x[p]?.errors ?? 0), 0)
  );
  row("request errors", errors.map((e, i) => r.get[paths[i]] && String(e)));
  return lines.join("\n");
}

/** The gateway's memory (after a full GC) through the run. */
function memoryTable(r: Results): string {
  const lines = [
    "| gateway memory, MB | RSS | private (anon) | file-backed | V8 heap used |",
    "|---|---:|---:|---:|---:|",
  ];
  const t = r.gatewayTunnels;
  const stages: [string, Memory | undefined][] = [
    ["started, no request yet", r.gatewayReady],
    ["after one request", r.gatewayStart],
    [`${t?.tunnels ?? 0} idle tunnels open`, t?.open],
    ["tunnels closed", t?.closed],
    ["after the load phases", r.gatewayEnd],
  ];
  for (const [label, m] of stages) {
    if (!m) continue;
    lines.push(
      `| ${label} | ${fmt(m.rssMb, 1)} | ${fmt(m.anonMb, 1)} | ${fmt(m.fileMb, 1)} | ${
        fmt(m.heapMb, 1)
      } |`,
    );
  }
  return lines.join("\n");
}

function report(r: Results): void {
  console.log("\n" + table(r) + "\n");
  const verdict = (ok: boolean) => ok ? "PASS" : "MISS";
  const g = r.get.gateway!, m = r.get.mitmproxy;
  if (m) {
    const ratio = g.rate / m.rate;
    console.log(`${verdict(ratio >= 5)} keep-alive GET rate: ${fmt(ratio, 1)}× mitmproxy (≥ 5×)`);
  } else {
    console.log(`SKIP keep-alive GET rate vs mitmproxy (${r.mitmproxy})`);
  }
  const added = r.single.gateway!.p50Ms - r.single.direct!.p50Ms;
  console.log(
    `${verdict(added <= 0.5)} added p50 over direct, keep-alive GET on 1 conn: ` +
      `${fmt(added, 3)} ms (≤ 0.5 ms)`,
  );
  const loaded = g.p50Ms - r.get.direct!.p50Ms;
  console.log(
    `info  added p50 over direct, keep-alive GET on ${r.options.connections} conns: ` +
      `${fmt(loaded, 3)} ms (includes queueing at ${fmt(g.rate)} req/s)`,
  );
  const t = r.gatewayTunnels;
  if (t) {
    // The target is stated at 1,000 tunnels; fewer (--tunnels, or failed opens) cannot judge it.
    const judged = t.tunnels >= 1000 ? verdict(t.open.rssMb <= 150) : "SKIP";
    console.log(
      `${judged} gateway RSS with ${t.tunnels} idle tunnels: ${fmt(t.open.rssMb, 1)} MB ` +
        `(≤ 150 MB at 1,000); V8 heap ${fmt(t.baseline.heapMb, 1)} → ${
          fmt(t.open.heapMb, 1)
        } MB; after closing them ${fmt(t.closed.rssMb, 1)} MB RSS`,
    );
  }
  console.log("\n" + memoryTable(r) + "\n");
  const gl = r.gatewayLog;
  console.log(`info  gateway log: ${gl.errors} error and ${gl.warnings} warn lines`);
  for (const line of gl.samples) console.log(`        ${line}`);
  if (r.mitmLog.lines > 0) {
    console.log(`info  mitmdump output: ${r.mitmLog.lines} lines`);
    for (const line of r.mitmLog.samples) console.log(`        ${line}`);
  }
  console.log(JSON.stringify({ bench: "http_proxy", ...r }));
}

/** Lines grouped by shape (digits masked), most frequent first, with counts. */
function distinct(lines: string[], limit: number): string[] {
  const seen = new Map<string, number>();
  for (const l of lines) {
    const key = l.replace(/\d+/g, "N").slice(0, 160);
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([k, n]) => `${n}× ${k}`);
}

async function run(options: Options): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_http_bench_" });
  const children: { stop(): Promise<void> }[] = [];
  const began = performance.now();
  const say = (line: string) =>
    console.log(`[${((performance.now() - began) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  try {
    const caDir = join(dir, "upstream-ca");
    await Deno.mkdir(caDir);
    await createGatewayCa(caDir);
    const upstreamCa = (await loadGatewayCa(caDir)).certPem;
    await Deno.writeTextFile(join(dir, "upstream-ca.pem"), upstreamCa);

    const upstream = await spawnSelf(["--serve-upstream", dir], 4096);
    children.push(upstream);
    const upstreamPort = upstream.ready.port as number;
    const token = await prepareGateway(dir, upstreamPort);
    const gateway = await spawnSelf(
      ["--serve-gateway", dir],
      options.tunnels + 4096,
      ["--expose-gc", options.gatewayV8Flags].filter(Boolean).join(","),
    );
    children.push(gateway);
    const pids = { client: Deno.pid, upstream: upstream.ready.pid as number };
    const paths: Path[] = [
      directPath(upstreamPort, upstreamCa, pids),
      proxyPath(
        "gateway",
        gateway.ready.port as number,
        `${HOST}:443`,
        await Deno.readTextFile(join(dir, "state", "ca.pem")),
        { ...pids, proxy: gateway.ready.pid as number },
        `Basic ${btoa(`bot:${token}`)}`,
      ),
    ];
    let mitm: Mitm | undefined;
    let mitmStatus = "measured";
    if (await hasMitmdump()) {
      try {
        mitm = await startMitm(dir);
        children.push(mitm);
      } catch (err) {
        mitmStatus = `skipped: ${(err as Error).message}`;
        say(`${(err as Error).message}: skipping the mitmproxy column`);
      }
    } else {
      mitmStatus = "skipped: mitmdump not on PATH";
      say("mitmdump not found on PATH: skipping the mitmproxy column");
    }
    if (mitm) {
      // mitmproxy dials the CONNECT target itself, so it gets the upstream's address; it verifies
      // the upstream's certificate for the client's SNI (api.test), with only the test CA trusted.
      paths.push(
        proxyPath("mitmproxy", mitm.port, `127.0.0.1:${upstreamPort}`, mitm.caPem, {
          ...pids,
          proxy: mitm.process.pid,
        }),
      );
    }

    const results: Results = {
      options,
      mitmproxy: mitmStatus,
      get: {},
      post: {},
      single: {},
      connect: {},
      gatewayLog: { errors: 0, warnings: 0, samples: [] },
      mitmLog: { lines: 0, samples: [] },
    };
    say(`started: upstream, gateway${mitm ? ", mitmdump" : ""}`);
    const progress = (what: string, c: Cell) =>
      say(
        `${what.padEnd(28)} ${fmt(c.rate).padStart(7)}/s  p50 ${fmt(c.p50Ms, 2)} ms  p99 ${
          fmt(c.p99Ms, 2)
        } ms  CPU µs/req ${
          JSON.stringify(c.cpuUs, (_, v) => typeof v === "number" ? +v.toFixed(0) : v)
        }${c.errors ? `  errors ${c.errors}: ${c.firstError}` : ""}`,
      );

    // Idle tunnels first, on a fresh gateway, so the baseline is not the heap left by load.
    const [, gatewayPath, mitmPath] = paths;
    results.gatewayReady = await gatewayMemory(gateway);
    await keepAlive(gatewayPath, GET, 1, { warmMs: 0, runMs: 200 });
    results.gatewayStart = await gatewayMemory(gateway);
    results.gatewayTunnels = await idleTunnels(
      gatewayPath,
      () => gatewayMemory(gateway),
      options.tunnels,
    );
    const held = (t: Tunnels) =>
      `${t.tunnels} idle tunnels: RSS ${fmt(t.baseline.rssMb, 1)} → ${fmt(t.open.rssMb, 1)} MB` +
      (t.errors ? `, errors ${t.errors}: ${t.firstError}` : "");
    say(`gateway ${held(results.gatewayTunnels)}`);
    if (mitm && !options.quick) {
      await keepAlive(mitmPath, GET, 1, { warmMs: 0, runMs: 200 });
      const pid = mitm.process.pid;
      results.mitmTunnels = await idleTunnels(
        mitmPath,
        () => Promise.resolve(memoryOf(pid)),
        options.tunnels,
      );
      say(`mitmproxy ${held(results.mitmTunnels)}`);
    }

    const n = options.connections;
    const phases: [string, Row, (p: Path) => Promise<Cell>][] = [
      ["keep-alive GET", results.get, (p) => keepAlive(p, GET, n, options.timing)],
      ["keep-alive POST", results.post, (p) => keepAlive(p, POST, n, options.timing)],
      ["GET, 1 conn", results.single, (p) => keepAlive(p, GET, 1, options.timing)],
      ["new connections", results.connect, (p) => newConnections(p, n, options.timing)],
    ];
    for (const [label, row, measure] of phases) {
      for (const path of paths) {
        row[path.name] = await measure(path);
        progress(`${path.name} ${label}`, row[path.name]!);
      }
    }
    results.gatewayEnd = await gatewayMemory(gateway);

    const glines = gateway.lines.filter((l) => !l.startsWith("info "));
    results.gatewayLog = {
      errors: glines.filter((l) => l.startsWith("error ")).length,
      warnings: glines.filter((l) => l.startsWith("warn ")).length,
      samples: distinct(glines, 8),
    };
    if (mitm) results.mitmLog = { lines: mitm.lines.length, samples: distinct(mitm.lines, 5) };
    report(results);
  } finally {
    for (const child of children.reverse()) await child.stop();
    // Synchronous: after a thousand TLS connections closed, this process's async file operations
    // can wait seconds for Deno's blocking thread pool.
    Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const [mode, dir] = Deno.args;
  if (mode === "--serve-upstream") await serveUpstream(dir);
  else if (mode === "--serve-gateway") await serveGateway(dir);
  else await run(parseOptions(Deno.args));
}
