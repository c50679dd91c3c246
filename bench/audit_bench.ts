/**
 * Receipt store benchmark: what `record()` costs the request path, how many receipts per second
 * reach disk, how long each flush blocks the event loop, and how fast `log verify` walks the chain.
 *
 *     deno run -A bench/audit_bench.ts [dir]    # dir defaults to a fresh temp dir (use the disk
 *                                               # that will hold state_dir for honest fsync costs)
 *
 * @module
 */

import { hrtime } from "node:process";
import type { ReceiptInput } from "../src/core/mod.ts";
import { AuditUnavailableError } from "../src/core/mod.ts";
import { queryReceipts, ReceiptStore, verifyChain } from "../src/audit/mod.ts";

const SUSTAINED_ROWS = 100_000;
const LATENCY_ROUNDS = 50;
const LATENCY_PER_ROUND = 1_000;

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

async function recordLatency(path: string): Promise<number[]> {
  const store = ReceiptStore.open(path);
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

interface Sustained {
  rowsPerSec: number;
  batches: number[];
  flushMs: number[];
  queueFull: number;
}

// A producer that offers receipts as fast as the event loop lets it, yielding between bursts the
// way request handlers would, and backing off when the store says the queue is full.
async function sustained(path: string, synchronous: "full" | "normal"): Promise<Sustained> {
  const batches: number[] = [];
  const flushMs: number[] = [];
  const store = ReceiptStore.open(path, {
    synchronous,
    onFlush: ({ rows, durationMs }) => {
      batches.push(rows);
      flushMs.push(durationMs);
    },
  });
  let queueFull = 0;
  const started = performance.now();
  for (let i = 0; i < SUSTAINED_ROWS;) {
    for (let burst = 0; burst < 200 && i < SUSTAINED_ROWS; burst++) {
      try {
        store.record(input(i));
        i++;
      } catch (error) {
        if (!(error instanceof AuditUnavailableError)) throw error;
        queueFull++;
        break;
      }
    }
    await tick();
  }
  await store.close();
  const seconds = (performance.now() - started) / 1000;
  return { rowsPerSec: SUSTAINED_ROWS / seconds, batches, flushMs, queueFull };
}

const dir = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "clawpatrol_audit_bench_" });
const cleanup = Deno.args[0] === undefined;
try {
  const us = await recordLatency(`${dir}/latency.db`);
  console.log(`record() on the request path (${us.length} calls, µs):`);
  console.table({
    "record()": {
      p50: +percentile(us, 0.5).toFixed(2),
      p99: +percentile(us, 0.99).toFixed(2),
      max: +us[us.length - 1].toFixed(1),
      mean: +(us.reduce((a, b) => a + b, 0) / us.length).toFixed(2),
    },
  });

  const rows: Record<string, Record<string, number>> = {};
  for (const sync of ["full", "normal"] as const) {
    const path = `${dir}/sustained_${sync}.db`;
    const r = await sustained(path, sync);
    const ms = [...r.flushMs].sort((a, b) => a - b);
    rows[`synchronous=${sync}`] = {
      "rows/s": Math.round(r.rowsPerSec),
      // Throughput of the flushes alone, without the producer sharing the thread.
      "commit rows/s": Math.round(SUSTAINED_ROWS / (ms.reduce((a, b) => a + b, 0) / 1000)),
      batches: r.batches.length,
      "mean batch": Math.round(SUSTAINED_ROWS / r.batches.length),
      "flush p50 ms": +percentile(ms, 0.5).toFixed(2),
      "flush p99 ms": +percentile(ms, 0.99).toFixed(2),
      "flush max ms": +ms[ms.length - 1].toFixed(2),
      "queue full": r.queueFull,
    };
  }
  console.log(`\nSustained: ${SUSTAINED_ROWS} receipts recorded and committed:`);
  console.table(rows);

  const path = `${dir}/sustained_full.db`;
  let t0 = performance.now();
  const result = verifyChain(path);
  const verifyMs = performance.now() - t0;
  t0 = performance.now();
  queryReceipts(path, { verdict: "allow", limit: 20 });
  const queryMs = performance.now() - t0;
  console.log("\nReading back:");
  console.table({
    "verifyChain()": { rows: result.rows, ms: Math.round(verifyMs), ok: Number(result.ok) },
    "queryReceipts(limit 20)": { rows: 20, ms: +queryMs.toFixed(2), ok: 1 },
  });
} finally {
  if (cleanup) await Deno.remove(dir, { recursive: true });
}
