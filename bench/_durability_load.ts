/**
 * Load for `durability_bench.ts`: a closed loop of N concurrent actions (reserve → durable →
 * complete), and a paced mixed load that records, for every read, how long its receipt took from
 * `reserve()` to the commit that holds it. The store they drive: `_durability_store.ts`.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { ReceiptInput } from "../src/core/mod.ts";
import { AuditUnavailableError } from "../src/core/mod.ts";
import type { ReceiptReservation } from "../src/audit/mod.ts";
import type { OutcomeInput } from "../src/audit/store.ts";
import { COMMIT_INTERVAL_MS, type Measured } from "./_durability_store.ts";

// How long a closed-loop action waits after reserve() refused it (queue full).
const BACKOFF_MS = 5;
// Pacing slot. Not shorter: a chain of timers is clamped to 4 ms after five levels.
const SLOT_MS = 10;

/** A decided action as the guard hands it to `reserve()`: outcome fields still empty. */
export function decision(i: number, write: boolean): ReceiptInput {
  const path = `/repos/acme/api/pulls/${i}${write ? "/comments" : ""}`;
  return {
    time: new Date(),
    agent: `agent-${i % 7}`,
    profile: "oncall-bot",
    endpoint: "https.github",
    protocol: "https",
    summary: `${write ? "POST" : "GET"} ${path}`,
    facts: {
      http: {
        method: write ? "post" : "get",
        scheme: "https",
        host: "api.github.com",
        port: 443n,
        path,
        query: {},
        headers: { "content-type": ["application/json"], "user-agent": ["claude-code/1.0"] },
        body: write ? '{"body":"LGTM"}' : "",
        body_truncated: false,
      },
    },
    rule: write ? "github-writes" : "github-reads",
    mode: "enforce",
    verdict: "allow",
    wouldBe: "allow",
    reason: write ? "Comments are allowed" : "Reads are allowed",
    approvals: [],
    upstreamStatus: null,
    bytesIn: 0,
    bytesOut: 0,
    latencyMs: 0,
  };
}

function outcome(latencyMs: number): OutcomeInput {
  return {
    time: new Date(),
    upstreamStatus: 200,
    bytesIn: 15,
    bytesOut: 1234,
    latencyMs,
    error: null,
    notRun: false,
  };
}

/** One turn of the event loop (timers and the writer's messages run): the forwarding's I/O. */
const forward = () => new Promise<void>((resolve) => setImmediate(resolve));

/** CPU µs per action on each thread between two `Measured.times()` readings. */
export interface Cpu {
  mainUs: number;
  writerUs: number;
}

type Times = ReturnType<Measured["times"]>;

function perAction(a: Times, b: Times, actions: number): Cpu {
  return {
    mainUs: (b.main.cpu - a.main.cpu) / 1000 / actions,
    writerUs: (b.writer.cpu - a.writer.cpu) / 1000 / actions,
  };
}

/** Each thread's CPU and run-queue wait between two readings, as % of the wall time. */
function shares(a: Times, b: Times, seconds: number): Paced["share"] {
  const pct = (ns: number) => ns / 1e7 / seconds;
  return {
    mainCpu: pct(b.main.cpu - a.main.cpu),
    writerCpu: pct(b.writer.cpu - a.writer.cpu),
    mainWait: pct(b.main.runQueue - a.main.runQueue),
    writerWait: pct(b.writer.runQueue - a.writer.runQueue),
  };
}

/** What a closed-loop row measured. */
export interface Closed {
  actions: number;
  seconds: number;
  /** reserve() → `durable` settled, ms, one per action (sorted). */
  waitMs: number[];
  commits: number;
  rows: number;
  cpu: Cpu;
  /** reserve() refused (queue full): the action would have been denied. */
  refused: number;
}

/**
 * `concurrency` simulated actions, each looping reserve → await durable → one event-loop turn
 * (the forwarding) → complete, for `warmMs` unmeasured and then `runMs` measured.
 */
export async function closedLoop(
  m: Measured,
  durable: boolean,
  concurrency: number,
  warmMs: number,
  runMs: number,
): Promise<Closed> {
  const waitMs: number[] = [];
  let measuring = false;
  let running = true;
  let actions = 0;
  let refused = 0;
  let i = 0;
  const loop = async () => {
    while (running) {
      const t0 = performance.now();
      let r: ReceiptReservation;
      try {
        r = m.store.reserve(decision(i++, durable), { durable });
      } catch (error) {
        if (!(error instanceof AuditUnavailableError)) throw error;
        // Queue full (reads outrun the writer): back off rather than spin, which would bill
        // the refusals to the actions' CPU. A gateway would deny these.
        if (measuring) refused++;
        await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS));
        continue;
      }
      const counted = measuring;
      await r.durable;
      const waited = performance.now() - t0;
      await forward();
      r.complete(outcome(performance.now() - t0));
      if (counted && measuring) {
        waitMs.push(waited);
        actions++;
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((resolve) => setTimeout(resolve, warmMs));
  measuring = m.counting = true;
  const cpu0 = m.times();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, runMs));
  measuring = m.counting = false;
  const cpu1 = m.times();
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  await Promise.all(loops);
  return {
    actions,
    seconds,
    waitMs: waitMs.sort((a, b) => a - b),
    commits: m.commitRows.length,
    rows: m.commitRows.reduce((a, b) => a + b, 0),
    cpu: perAction(cpu0, cpu1, actions),
    refused,
  };
}

/** What a paced row measured. */
export interface Paced {
  reads: number;
  writes: number;
  seconds: number;
  /** reserve() → the commit that included the read's receipt, ms, per measured read (sorted). */
  readAgeMs: number[];
  /** Durable wait of the writes in the window, ms (sorted). */
  writeWaitMs: number[];
  commits: number;
  /** Rows those commits held. */
  rows: number;
  commitMs: number[];
  /**
   * Rows the bench queued (by its own count), rows the age tracking saw committed, and rows the
   * store reported committed: all three must match, or the ages belong to the wrong rows.
   */
  pushed: number;
  tracked: number;
  committed: number;
  refused: number;
  /** How late the pacing timer fired, p99 ms: the event loop was busy elsewhere. */
  lateP99Ms: number;
  /** Most rows waiting for a commit at a slot's start: a queue that keeps growing is a writer behind. */
  maxQueued: number;
  /**
   * % of the window each thread ran on a CPU, and waited for one while runnable: the second is
   * other load on the box (a starved writer commits late however the store schedules it).
   */
  share: { mainCpu: number; writerCpu: number; mainWait: number; writerWait: number };
}

/**
 * `readsPerSec` reads (`durable: false`, completed about a slot later, as after an upstream round
 * trip) and `writesPerSec` writes (`durable: true`, completed after their wait) in slots of
 * SLOT_MS: `warmMs` unmeasured, `runMs` measured, then more load so the last measured reads
 * commit under the same load, not at close.
 */
export async function pacedMix(
  m: Measured,
  readsPerSec: number,
  writesPerSec: number,
  warmMs: number,
  runMs: number,
): Promise<Paced> {
  // One entry per row the store queued, in queue order (the writer commits in that order): the
  // reserve() time of a measured read, NaN for anything else (writes, outcomes, warm-up reads).
  // complete() queues an outcome row only when its receipt already left the process, so the
  // store's `queued` before and after says whether it did.
  const rows: number[] = [];
  let head = 0;
  const readAgeMs: number[] = [];
  let tracked = 0;
  let committed = 0;
  m.onCommit = (n) => {
    const now = performance.now();
    committed += n;
    for (const end = Math.min(rows.length, head + n); head < end; head++, tracked++) {
      if (!Number.isNaN(rows[head])) readAgeMs.push(now - rows[head]);
    }
  };
  const completeTracked = (r: ReceiptReservation, latencyMs: number) => {
    const before = m.store.queued;
    r.complete(outcome(latencyMs));
    if (m.store.queued > before) rows.push(NaN);
  };
  const writeWaitMs: number[] = [];
  const writesInFlight: Promise<void>[] = [];
  let refused = 0;
  let measuring = false;
  const write = async (i: number) => {
    const t0 = performance.now();
    const counted = measuring;
    let r: ReceiptReservation;
    try {
      r = m.store.reserve(decision(i, true), { durable: true });
    } catch (error) {
      if (!(error instanceof AuditUnavailableError)) throw error;
      if (counted) refused++;
      return;
    }
    rows.push(NaN);
    await r.durable;
    if (counted) writeWaitMs.push(performance.now() - t0);
    await forward();
    completeTracked(r, performance.now() - t0);
  };
  let reads = 0;
  let writes = 0;
  let previous: [ReceiptReservation, number][] = [];
  const late: number[] = [];
  let maxQueued = 0;
  const slot = (i: number) => {
    if (measuring) maxQueued = Math.max(maxQueued, m.store.queued);
    for (const [r, t] of previous) completeTracked(r, performance.now() - t);
    previous = [];
    const nReads = readsPerSec * SLOT_MS / 1000;
    const nWrites = writesPerSec * SLOT_MS / 1000;
    // Writes spread among the reads, as independent agents would send them.
    const every = nWrites > 0 ? Math.floor(nReads / nWrites) || 1 : Infinity;
    for (let k = 0, w = 0; k < nReads || w < nWrites; k++) {
      try {
        if (k % every === 0 && w < nWrites) {
          w++;
          writesInFlight.push(write(i * 1000 + k));
          if (measuring) writes++;
        }
        if (k >= nReads) continue;
        const t = performance.now();
        const r = m.store.reserve(decision(i * 1000 + k, false), { durable: false });
        rows.push(measuring ? t : NaN);
        previous.push([r, t]);
        if (measuring) reads++;
      } catch (error) {
        if (!(error instanceof AuditUnavailableError)) throw error;
        if (measuring) refused++;
      }
    }
  };
  const runSlots = async (ms: number) => {
    let due = performance.now();
    for (let s = 0; s < ms / SLOT_MS; s++) {
      slot(s);
      due = Math.max(due + SLOT_MS, performance.now());
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      if (measuring) late.push(performance.now() - due);
    }
  };
  await runSlots(warmMs);
  measuring = m.counting = true;
  const cpu0 = m.times();
  const t0 = performance.now();
  await runSlots(runMs);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = m.times();
  measuring = m.counting = false;
  await runSlots(4 * COMMIT_INTERVAL_MS);
  for (const [r, t] of previous) completeTracked(r, performance.now() - t);
  await Promise.all(writesInFlight);
  await m.store.flushed();
  late.sort((a, b) => a - b);
  return {
    reads,
    writes,
    seconds,
    readAgeMs: readAgeMs.sort((a, b) => a - b),
    writeWaitMs: writeWaitMs.sort((a, b) => a - b),
    commits: m.commitRows.length,
    rows: m.commitRows.reduce((a, b) => a + b, 0),
    commitMs: [...m.commitMs].sort((a, b) => a - b),
    pushed: rows.length,
    tracked,
    committed,
    refused,
    lateP99Ms: percentile(late, 0.99),
    maxQueued,
    share: shares(cpu0, cpu1, seconds),
  };
}

/** The `p` quantile of sorted `values` (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}
