/**
 * Connections to upstream servers: dialled (plain or TLS, verified against the system roots or
 * the endpoint's CA), pooled per target for keep-alive, and classified on failure so the agent
 * gets a clear 502. An idle pooled connection is watched, so one the upstream closed (its own
 * keep-alive timeout) leaves the pool instead of failing the next request.
 *
 * @module
 */

import type { NetServices } from "../../core/mod.ts";
import { ConnStream } from "./_stream.ts";
import { type Deadline, deadline } from "../../core/deadlines.ts";

/** Where and how to reach an upstream. */
export interface UpstreamTarget {
  /** Address to dial. */
  dialHost: string;
  dialPort: number;
  /** Name used for SNI and certificate verification (the request's host). */
  serverName: string;
  tls: boolean;
  /** PEM roots replacing the system roots. */
  caCert?: string;
  /** Connections are pooled per owner (the agent): never reused across owners. */
  owner?: string;
  /** Presented to the upstream during the handshake (mutual TLS). */
  clientCert?: { certPem: string; keyPem: string };
}

/** A failure to reach or trust the upstream; `message` is safe to show the agent. */
export class UpstreamError extends Error {
  readonly kind: "connect" | "tls" | "timeout" | "protocol";
  constructor(kind: UpstreamError["kind"], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UpstreamError";
    this.kind = kind;
  }
}

/** A connection taken from the pool; `reused` tells whether it served a request before. */
export interface UpstreamLease {
  stream: ConnStream;
  reused: boolean;
  key: string;
}

interface Idle {
  stream: ConnStream;
  timer: Deadline;
}

/** Options for {@linkcode UpstreamPool.acquire}. */
export interface AcquireOptions {
  /**
   * Dial a new connection even when an idle one is pooled: after a long wait (an approval) an
   * idle connection is the likeliest to have been closed by the upstream. @default {false}
   */
  fresh?: boolean;
}

/** Options for {@linkcode UpstreamPool}. */
export interface UpstreamPoolOptions {
  /** Idle connections kept per target. @default {32} */
  maxIdlePerTarget?: number;
  /** How long an idle connection is kept. @default {30_000} */
  idleTimeoutMs?: number;
  /** Time allowed for TCP connect plus TLS handshake. @default {10_000} */
  connectTimeoutMs?: number;
  /** The gateway's sockets. */
  net: Pick<NetServices, "dial" | "dialTls" | "startTls">;
}

/** Keep-alive pool of upstream connections keyed by dial address, SNI and trust roots. */
export class UpstreamPool {
  readonly #idle = new Map<string, Idle[]>();
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #net: UpstreamPoolOptions["net"];
  #closed = false;

  constructor(options: UpstreamPoolOptions) {
    this.#net = options.net;
    this.#maxIdle = options.maxIdlePerTarget ?? 32;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** An idle connection to `target`, or a new one. Throws UpstreamError. */
  async acquire(target: UpstreamTarget, options: AcquireOptions = {}): Promise<UpstreamLease> {
    const key = keyOf(target);
    const idle = options.fresh ? undefined : this.#idle.get(key);
    while (idle && idle.length > 0) {
      const { stream, timer } = idle.pop()!;
      timer.cancel();
      if (!stream.closed) return { stream, reused: true, key };
    }
    return { stream: await this.#dial(target), reused: false, key };
  }

  /** Returns a connection whose last response ended cleanly, for the next request. */
  release(lease: UpstreamLease): void {
    if (this.#closed || lease.stream.closed) return lease.stream.destroy();
    const list = this.#idle.get(lease.key) ?? [];
    if (list.length >= this.#maxIdle) return lease.stream.destroy();
    const stream = lease.stream;
    const entry: Idle = {
      stream,
      timer: deadline(this.#idleTimeoutMs, () => {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
        stream.destroy();
      }),
    };
    list.push(entry);
    this.#idle.set(lease.key, list);
    if (stream instanceof WatchedConn) {
      stream.watchIdle().then(() => {
        // Whatever arrives on an idle connection ends it: the upstream's close or reset, or
        // bytes no request asked for (a late or stray response would answer the next request).
        // Once leased, the read belongs to the new holder, which sees what arrived.
        const at = list.indexOf(entry);
        if (at < 0) return;
        list.splice(at, 1);
        entry.timer.cancel();
        stream.destroy();
      });
    }
  }

  /** Idle connections held, over all targets. */
  get idleCount(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Closes every idle connection; later releases close their connection. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) {
      for (const { stream, timer } of list) {
        timer.cancel();
        stream.destroy();
      }
    }
    this.#idle.clear();
  }

  /**
   * TLS presenting a client certificate. Deno.startTls cannot present one, and Deno.connectTls
   * dials the name it verifies: so the upstream must be dialled by that name.
   */
  async #dialMutualTls(
    target: UpstreamTarget,
    where: string,
    deadline: Promise<never>,
  ): Promise<ConnStream> {
    if (target.dialHost !== target.serverName) {
      throw new UpstreamError(
        "tls",
        `a client certificate needs upstream ${where} dialled by the name it is verified as`,
      );
    }
    let conn: Deno.TlsConn;
    try {
      conn = await Promise.race([
        this.#net.dialTls({
          hostname: target.serverName,
          port: target.dialPort,
          caCerts: target.caCert ? [target.caCert] : undefined,
          cert: target.clientCert!.certPem,
          key: target.clientCert!.keyPem,
        }),
        deadline,
      ]);
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      if (
        err instanceof Deno.errors.ConnectionRefused || err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotCapable
      ) {
        throw connectFailed(where, err);
      }
      throw new UpstreamError("tls", `TLS with upstream ${where} failed: ${tlsReason(err)}`, {
        cause: err,
      });
    }
    try {
      await Promise.race([conn.handshake(), deadline]);
      return new WatchedConn(conn);
    } catch (err) {
      conn.close();
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError("tls", `TLS with upstream ${where} failed: ${tlsReason(err)}`, {
        cause: err,
      });
    }
  }

  async #dial(target: UpstreamTarget): Promise<ConnStream> {
    const where = `${target.serverName}${
      target.dialHost === target.serverName ? "" : ` via ${target.dialHost}`
    }:${target.dialPort}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let tcp: Deno.TcpConn | undefined;
    let timedOut = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new UpstreamError("timeout", `upstream ${where} did not answer in time`));
      }, this.#connectTimeoutMs);
    });
    if (target.tls && target.clientCert) {
      try {
        return await this.#dialMutualTls(target, where, deadline);
      } finally {
        clearTimeout(timer);
      }
    }
    try {
      tcp = await Promise.race([
        this.#net.dial(target.dialHost, target.dialPort),
        deadline,
      ]);
    } catch (err) {
      clearTimeout(timer);
      if (err instanceof UpstreamError) throw err;
      throw connectFailed(where, err);
    }
    if (!target.tls) {
      clearTimeout(timer);
      tcp.setNoDelay(true);
      return new WatchedConn(tcp);
    }
    tcp.setNoDelay(true);
    try {
      const conn = await Promise.race([
        this.#net.startTls(tcp, {
          hostname: target.serverName,
          caCerts: target.caCert ? [target.caCert] : undefined,
        }),
        deadline,
      ]);
      // startTls is lazy: the handshake (and certificate check) happens here, not on first read.
      await Promise.race([conn.handshake(), deadline]);
      clearTimeout(timer);
      return new WatchedConn(conn);
    } catch (err) {
      clearTimeout(timer);
      try {
        tcp.close();
      } catch {
        // startTls took ownership of the connection and may have closed it.
      }
      if (err instanceof UpstreamError || timedOut) throw err;
      throw new UpstreamError(
        "tls",
        `TLS with upstream ${where} failed: ${tlsReason(err)}`,
        { cause: err },
      );
    }
  }
}

/**
 * An upstream connection that keeps one read pending while it sits idle in the pool, so the
 * upstream closing it is noticed at once. That read is handed to the next holder's first read.
 */
class WatchedConn extends ConnStream {
  #idleRead: Promise<Uint8Array | null> | undefined;

  /** Starts the idle read; settles (never rejects) once something arrived or the read failed. */
  watchIdle(): Promise<void> {
    const read = super.read();
    this.#idleRead = read;
    return read.then(() => {}, () => {});
  }

  override read(): Promise<Uint8Array | null> {
    const pending = this.#idleRead;
    if (!pending) return super.read();
    this.#idleRead = undefined;
    return pending;
  }
}

function keyOf(t: UpstreamTarget): string {
  // The certificate (public) is part of the key: a rotated client certificate gets new
  // connections instead of riding on ones authenticated with the old one.
  return `${t.owner ?? ""}|${t.tls ? "tls" : "tcp"}|${t.dialHost}|${t.dialPort}|${t.serverName}|${
    pemId(t.caCert)
  }|${pemId(t.clientCert?.certPem)}`;
}

/**
 * A short stand-in for a PEM in pool keys, the same for equal texts: a key holding the PEM itself
 * is a new ~1–2 KB string per request, copied and hashed whole by the pool's map (~0.5 µs). One
 * entry per distinct certificate text the gateway was ever configured with.
 */
const pemIds = new Map<string, string>();

function pemId(pem: string | undefined): string {
  if (pem === undefined) return "";
  let id = pemIds.get(pem);
  if (id === undefined) pemIds.set(pem, id = `pem${pemIds.size + 1}`);
  return id;
}

/** The certificate problem in rustls' words, without addresses or stack. */
function tlsReason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const m = /invalid peer certificate: (\w+)/i.exec(text);
  if (m) return `certificate not trusted (${m[1]})`;
  if (/NotValidForName|CertNotValidForName/i.test(text)) return "certificate does not match host";
  return "handshake failed";
}

/**
 * A dial that failed: a refused connection, an unknown name, or a host the gateway's permissions
 * do not cover (a config reloaded with an upstream the running gateway was never granted).
 */
function connectFailed(where: string, err: unknown): UpstreamError {
  if (err instanceof Deno.errors.NotCapable) {
    return new UpstreamError(
      "connect",
      `upstream ${where} is outside the gateway's network grant: restart the gateway (through the launcher) to apply the config that added it`,
      { cause: err },
    );
  }
  return new UpstreamError("connect", `cannot connect to upstream ${where}`, { cause: err });
}
