/**
 * Receipt store benchmark: what `record()` costs the request path, how much of the event loop's
 * thread the store takes per receipt under sustained load (the figure that matters for gateway
 * throughput: with the writer in a worker, SQLite, hashing and fsync run on another thread), how
 * long the event loop stalls, how many receipts per second reach disk, and how fast `log verify`
 * walks the chain. Each sustained row runs with the writer in a worker (the gateway's mode) and
 * in-process (`worker: false`, the store before the worker) for comparison.
 *
 *     deno run -A bench/audit_bench.ts [dir]    # dir defaults to a fresh temp dir (use the disk
 *                                               # that will hold state_dir for honest fsync costs)
 *
 * Thread CPU times come from /proc (Linux); elsewhere those columns read NaN.
 *
 * @module
 */

import { hrtime } from "node:process";
import type { ReceiptInput } from "../src/core/mod.ts";
import { AuditUnavailableError } from "../src/core/mod.ts";
import { queryReceipts, ReceiptStore, verifyChain, verifyChainParallel } from "../src/audit/mod.ts";

const SUSTAINED_ROWS = 100_000;
const LATENCY_ROUNDS = 50;
const LATENCY_PER_ROUND = 1_000;
// The paced run: a steady rate below what the writer sustains, like a gateway under load
// (pgbench through the Postgres gateway makes about 3,000-4,000 receipts per second here).
const PACED_PER_SEC = 10_000;
const PACED_SECONDS = 4;
// Not shorter: a chain of timers is clamped to 4 ms after five levels (HTML timers, as in Deno).
const PACED_SLOT_MS = 10;

function input(i: number): ReceiptInput {
  return {
    time: new Date(),
    agent: `agent-${i % 7}`,
    profile: "oncall-bot",
    endpoint: "https.github",
    protocol: "https",
    summary: `POST /repos/acme/api/pulls/${i}/comments`,
    facts: {
      http: {
        method: "post",
        scheme: "https",
        host: "api.github.com",
        port: 443n,
        path: `/repos/acme/api/pulls/${i}/comments`,
        query: {},
        headers: { "content-type": ["application/json"], "user-agent": ["claude-code/1.0"] },
        body: '{"body":"LGTM"}',
        body_truncated: false,
      },
    },
    rule: "github-writes",
    mode: "observe",
    verdict: "allow",
    wouldBe: "deny",
    reason: "Writes to GitHub need a human",
    approvals: [],
    upstreamStatus: 201,
    bytesIn: 15,
    bytesOut: 1234,
    latencyMs: 12.5,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

async function recordLatency(path: string, worker: boolean): Promise<number[]> {
  const store = ReceiptStore.open(path, { worker });
  for (let i = 0; i < 5_000; i++) store.record(input(i)); // warm up the JIT and the statement
  await store.flushed();
  const samples: number[] = [];
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    for (let i = 0; i < LATENCY_PER_ROUND; i++) {
      const receipt = input(i);
      const t0 = hrtime.bigint();
      store.record(receipt);
      samples.push(Number(hrtime.bigint() - t0) / 1000);
    }
    await store.flushed();
  }
  await store.close();
  return samples.sort((a, b) => a - b);
}

// CPU milliseconds used so far by this process's main thread (the event loop's: its thread id
// is the process id), and by the whole process, from /proc at clock-tick (10 ms) resolution.
function cpuMs(): { main: number; process: number } {
  const ticks = (stat: string) => {
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 Hz
  };
  try {
    return {
      main: ticks(Deno.readTextFileSync(`/proc/self/task/${Deno.pid}/stat`)),
      process: ticks(Deno.readTextFileSync("/proc/self/stat")),
    };
  } catch {
    return { main: NaN, process: NaN };
  }
}

interface Sustained {
  rowsPerSec: number;
  batches: number[];
  commitMs: number[];
  queueFull: number;
  mainCpuMs: number;
  processCpuMs: number;
  // How long each `await tick()` of the producer took: time the event loop spent elsewhere,
  // committing batches when the writer shares the thread.
  tickMs: number[];
}

// A producer that offers receipts as fast as the event loop lets it, yielding between bursts the
// way request handlers would, and backing off when the store says the queue is full. With no
// store it measures the producer alone, which the main-thread figures subtract.
async function sustained(
  path: string | undefined,
  options: { synchronous: "full" | "normal"; worker: boolean },
): Promise<Sustained> {
  const batches: number[] = [];
  const commitMs: number[] = [];
  const store = path === undefined ? undefined : ReceiptStore.open(path, {
    ...options,
    onFlush: ({ rows, durationMs }) => {
      batches.push(rows);
      commitMs.push(durationMs);
    },
  });
  await store?.ready();
  let queueFull = 0;
  const tickMs: number[] = [];
  const cpu0 = cpuMs();
  const started = performance.now();
  for (let i = 0; i < SUSTAINED_ROWS;) {
    for (let burst = 0; burst < 200 && i < SUSTAINED_ROWS; burst++) {
      const receipt = input(i);
      try {
        store?.record(receipt);
        i++;
      } catch (error) {
        if (!(error instanceof AuditUnavailableError)) throw error;
        queueFull++;
        break;
      }
    }
    const t0 = performance.now();
    await tick();
    tickMs.push(performance.now() - t0);
  }
  await store?.close();
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = cpuMs();
  return {
    rowsPerSec: SUSTAINED_ROWS / seconds,
    batches,
    commitMs,
    queueFull,
    mainCpuMs: cpu1.main - cpu0.main,
    processCpuMs: cpu1.process - cpu0.process,
    tickMs,
  };
}

const round2 = (n: number) => +n.toFixed(2);

interface Paced {
  mainCpuMs: number;
  processCpuMs: number;
  // How late each slot's timer fired: the event loop was busy elsewhere meanwhile.
  lateMs: number[];
}

// Offers PACED_PER_SEC receipts per second in slots of PACED_SLOT_MS, for PACED_SECONDS, then
// closes the store (its drain counts too). With no store it measures the producer alone. Same
// count of receipts whatever happens; if the thread cannot keep up, the run just takes longer.
async function paced(path: string | undefined, worker: boolean): Promise<Paced> {
  const store = path === undefined ? undefined : ReceiptStore.open(path, { worker });
  await store?.ready();
  const perSlot = PACED_PER_SEC * PACED_SLOT_MS / 1000;
  const slots = PACED_SECONDS * 1000 / PACED_SLOT_MS;
  const lateMs: number[] = [];
  const cpu0 = cpuMs();
  let due = performance.now();
  for (let slot = 0, i = 0; slot < slots; slot++) {
    for (let n = 0; n < perSlot; n++, i++) {
      const receipt = input(i);
      store?.record(receipt);
    }
    // A slot that ends late starts the next at once rather than queueing up lateness.
    due = Math.max(due + PACED_SLOT_MS, performance.now());
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    lateMs.push(performance.now() - due);
  }
  await store?.close();
  const cpu1 = cpuMs();
  return {
    mainCpuMs: cpu1.main - cpu0.main,
    processCpuMs: cpu1.process - cpu0.process,
    lateMs: lateMs.sort((a, b) => a - b),
  };
}

const dir = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "clawpatrol_audit_bench_" });
const cleanup = Deno.args[0] === undefined;
try {
  const latency: Record<string, Record<string, number>> = {};
  for (const worker of [true, false]) {
    const us = await recordLatency(`${dir}/latency_${worker}.db`, worker);
    latency[`record() ${worker ? "worker" : "in-process"}`] = {
      p50: round2(percentile(us, 0.5)),
      p99: round2(percentile(us, 0.99)),
      max: +us[us.length - 1].toFixed(1),
      mean: round2(us.reduce((a, b) => a + b, 0) / us.length),
    };
  }
  console.log(`record() on the request path (${LATENCY_ROUNDS * LATENCY_PER_ROUND} calls, µs):`);
  console.table(latency);

  // The producer alone (building inputs, yielding), subtracted from the main-thread figures.
  const bare = await sustained(undefined, { synchronous: "full", worker: false });
  const rows: Record<string, Record<string, number>> = {};
  for (const sync of ["full", "normal"] as const) {
    for (const worker of [true, false]) {
      const path = `${dir}/sustained_${sync}_${worker ? "worker" : "local"}.db`;
      const r = await sustained(path, { synchronous: sync, worker });
      const ms = [...r.commitMs].sort((a, b) => a - b);
      const ticks = [...r.tickMs].sort((a, b) => a - b);
      rows[`${sync} ${worker ? "worker" : "in-process"}`] = {
        "rows/s": Math.round(r.rowsPerSec),
        // The key figure: event-loop thread CPU per receipt taken by the store.
        "main µs/rcpt": round2((r.mainCpuMs - bare.mainCpuMs) * 1000 / SUSTAINED_ROWS),
        "process µs/rcpt": round2((r.processCpuMs - bare.processCpuMs) * 1000 / SUSTAINED_ROWS),
        "loop stall p99 ms": round2(percentile(ticks, 0.99)),
        "loop stall max ms": round2(ticks[ticks.length - 1]),
        "mean batch": Math.round(SUSTAINED_ROWS / r.batches.length),
        "commit p50 ms": round2(percentile(ms, 0.5)),
        "commit p99 ms": round2(percentile(ms, 0.99)),
        "queue full": r.queueFull,
      };
    }
  }
  console.log(`\nSustained: ${SUSTAINED_ROWS} receipts recorded and committed:`);
  console.table(rows);
  console.log(
    `(producer alone: main thread ${bare.mainCpuMs} ms CPU, ${
      round2(percentile([...bare.tickMs].sort((a, b) => a - b), 0.99))
    } ms loop stall p99; commit ms is the writer's time per batch, on its own thread in worker mode)`,
  );

  const pacedRows: Record<string, Record<string, number>> = {};
  const pacedBare = await paced(undefined, false);
  const receipts = PACED_PER_SEC * PACED_SECONDS;
  for (const worker of [true, false]) {
    const r = await paced(`${dir}/paced_${worker}.db`, worker);
    pacedRows[worker ? "worker" : "in-process"] = {
      "main µs/rcpt": round2((r.mainCpuMs - pacedBare.mainCpuMs) * 1000 / receipts),
      "process µs/rcpt": round2((r.processCpuMs - pacedBare.processCpuMs) * 1000 / receipts),
      "timer late p50 ms": round2(percentile(r.lateMs, 0.5)),
      "timer late p99 ms": round2(percentile(r.lateMs, 0.99)),
      "timer late max ms": round2(r.lateMs[r.lateMs.length - 1]),
    };
  }
  console.log(
    `\nPaced: ${PACED_PER_SEC} receipts/s for ${PACED_SECONDS} s, synchronous=full (producer alone: main thread ${pacedBare.mainCpuMs} ms CPU, timer late p99 ${
      round2(percentile(pacedBare.lateMs, 0.99))
    } ms):`,
  );
  console.table(pacedRows);

  const path = `${dir}/sustained_full_worker.db`;
  // One thread and every core, alternating, three times each: the median of each. The first,
  // unmeasured walk warms this thread up, as a second `log verify` would find it.
  const oneThread: number[] = [];
  const allCores: number[] = [];
  let result = verifyChain(path);
  let parts = 1;
  for (let round = 0; round < 3; round++) {
    let t0 = performance.now();
    result = verifyChain(path);
    oneThread.push(performance.now() - t0);
    t0 = performance.now();
    const parallel = await verifyChainParallel(path, { report: (how) => parts = how.parts });
    allCores.push(performance.now() - t0);
    if (parallel.ok !== result.ok || parallel.rows !== result.rows) {
      throw new Error(`verifyChainParallel() disagrees: ${JSON.stringify(parallel)}`);
    }
  }
  const median = (ms: number[]) => ms.sort((a, b) => a - b)[1];
  const t0 = performance.now();
  queryReceipts(path, { verdict: "allow", limit: 20 });
  const queryMs = performance.now() - t0;
  const perSecond = (ms: number) => Math.round(result.rows * 1000 / ms);
  console.log("\nReading back (verify: median of 3, alternating):");
  console.table({
    "verifyChain()": {
      rows: result.rows,
      ms: Math.round(median(oneThread)),
      "receipts/s": perSecond(median(oneThread)),
      ok: Number(result.ok),
    },
    [`verifyChainParallel(), ${parts} parts`]: {
      rows: result.rows,
      ms: Math.round(median(allCores)),
      "receipts/s": perSecond(median(allCores)),
      ok: Number(result.ok),
    },
    "queryReceipts(limit 20)": { rows: 20, ms: +queryMs.toFixed(2), ok: 1 },
  });
  const rate = perSecond(median(allCores));
  console.log(
    `${rate >= 500_000 ? "PASS" : "MISS"} log verify: ${rate} receipts/s on ${parts} threads ` +
      `(target ≥ 500,000; one thread ${perSecond(median(oneThread))})`,
  );
} finally {
  if (cleanup) await Deno.remove(dir, { recursive: true });
}
