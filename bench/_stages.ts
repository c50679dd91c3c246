/**
 * Where a gateway process's CPU goes, by stage: synchronous methods on the decision path are
 * wrapped with clocks (their inclusive time on the event loop's thread), and the process's
 * threads are read from /proc (the receipt writer is a Web Worker thread, `worker-N`; V8's
 * garbage collector and compilers run on `V8 DefaultWorke…` threads). What is left of the event
 * loop's thread is the wire: sockets, TLS, HTTP or Postgres framing, streams and timers.
 *
 * Used by `stages.ts`: the HTTPS gateway child installs it when `CLAWPATROL_BENCH_STAGES` is set,
 * the Postgres gateway runs in that script's own process.
 *
 * @module
 */

import { ReceiptStore } from "../src/audit/mod.ts";
import { Guard, SessionLedger } from "../src/pipeline/mod.ts";
import { Policy } from "../src/policy/mod.ts";

/** Inclusive ms and calls per stage since the last reset. */
const clocks = new Map<string, { ms: number; calls: number }>();

// deno-lint-ignore no-explicit-any
type Proto = Record<string, any>;

/**
 * Times every call of `proto[method]` under `label`. A label that starts with spaces is nested
 * in an earlier one (its time is inside that one's): `stages.ts` leaves it out of the sum.
 */
export function probe(proto: Proto, method: string, label: string): void {
  const original = proto[method] as (...args: unknown[]) => unknown;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    const started = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const clock = clocks.get(label) ?? { ms: 0, calls: 0 };
      clock.ms += performance.now() - started;
      clock.calls++;
      clocks.set(label, clock);
    }
  };
}

/**
 * The stages every protocol shares: deciding, recording, completing. `nested`: they run inside
 * another probed stage (`"  "`), or at the top of the event loop's work (`""`).
 */
export function probeDecisionPath(nested = ""): void {
  probe(Guard.prototype, "decide", `${nested}decide: facts → verdict → receipt queued`);
  probe(Policy.prototype, "evaluate", `${nested}  of which policy.evaluate (rules)`);
  probe(
    ReceiptStore.prototype,
    "reserve",
    `${nested}  of which receipts.reserve (validate, serialise)`,
  );
  probe(SessionLedger.prototype, "complete", `${nested}outcome: ledger.complete`);
}

/** What the probes and the threads measured since `reset`, as plain numbers. */
export function stageReport(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, { ms, calls }] of clocks) {
    out[`${label}\tms`] = ms;
    out[`${label}\tcalls`] = calls;
  }
  for (const [name, ms] of threadCpu()) out[`thread ${name}\tms`] = ms;
  return out;
}

/** Zeroes the probes (thread times are read as differences by the caller). */
export function resetStages(): void {
  clocks.clear();
}

/** CPU ms per thread kind of this process: `main`, `receipt writer`, `V8 background`, `other`. */
export function threadCpu(pid: number | "self" = "self"): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    const base = `/proc/${pid}/task/${entry.name}`;
    let comm: string;
    let ns: number;
    try {
      comm = Deno.readTextFileSync(`${base}/comm`).trim();
      ns = Number(Deno.readTextFileSync(`${base}/schedstat`).split(" ")[0]);
    } catch {
      continue; // The thread ended meanwhile.
    }
    const kind = String(entry.name) === String(pid === "self" ? Deno.pid : pid)
      ? "main"
      : comm.startsWith("worker-")
      ? "receipt writer"
      : comm.startsWith("V8 ")
      ? "V8 background (GC, compilers)"
      : "other (tokio, I/O)";
    out.set(kind, (out.get(kind) ?? 0) + ns / 1e6);
  }
  return out;
}

/**
 * The wire stages of an HTTPS exchange that are synchronous methods (`stages.ts --wire`): what
 * is left of "the rest" after them is V8 and the runtime between them (promises, callbacks, TLS
 * decryption of what the sockets deliver, garbage collection on the event loop). The socket
 * writes include their system call, which wakes the peer: on a busy machine they read long.
 */
export async function probeHttpWire(): Promise<void> {
  const { SocketStream, ConnStream } = await import("../src/protocols/http/_stream.ts");
  const { UpstreamPool } = await import("../src/protocols/http/_upstream.ts");
  const { RequestIntake } = await import("../src/protocols/http/session.ts");
  const { BodyReader } = await import("../src/protocols/http/_framing.ts");
  probe(SocketStream.prototype, "write", "wire: agent write (node:tls encrypt, send)");
  // A response's head and body leave through writeParts (one corked write); it never calls write.
  probe(SocketStream.prototype, "writeParts", "wire: agent write (node:tls encrypt, send)");
  probe(SocketStream.prototype, "read", "wire: agent read (queue)");
  probe(ConnStream.prototype, "write", "wire: upstream write (op start)");
  probe(ConnStream.prototype, "read", "wire: upstream read (op start)");
  probe(RequestIntake.prototype, "chunk", "wire: request head parse");
  probe(BodyReader.prototype, "push", "wire: body framing");
  probe(UpstreamPool.prototype, "acquire", "wire: pool acquire");
  probe(UpstreamPool.prototype, "release", "wire: pool release (idle watch)");
}
