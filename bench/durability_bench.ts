/**
 * What write-ahead durability costs an action, and whether the read bound holds under load.
 *
 *     deno run -A bench/durability_bench.ts [--quick] [--seconds=3] [dir]
 *
 * `dir` defaults to a fresh temp dir; pass one on the disk that will hold `state_dir` for honest
 * fsync costs. Every row opens a fresh receipt store as the gateway does (writer in a Web Worker,
 * SQLite WAL, synchronous=FULL, `commitIntervalMs` 50 = the default `receipt_commit_interval`,
 * `maxQueue` 10,000), so the rows of one run compare side by side; absolute numbers on a shared
 * box are noise, ratios much less so.
 *
 * 1. Closed loop, concurrency 1, 8 and 64: each simulated action reserves its receipt, waits for
 *    `durable`, takes one event-loop turn (the forwarding) and completes. Writes use
 *    `durable: true` (forwarded only once the row is fsynced: an urgent commit); reads use
 *    `durable: false` (no wait; group-committed at most once per interval).
 * 2. Paced mixed load: reads (completed ~10 ms later, as after an upstream round trip) and durable
 *    writes at fixed rates. For every read, the age of its receipt from `reserve()` to the commit
 *    that included it (seen when the commit's message reaches the event loop, so an upper bound),
 *    against the promise: on disk within `receipt_commit_interval` plus the commit itself.
 *
 * Thread CPU comes from /proc (Linux); elsewhere those columns read "–". Load:
 * `_durability_load.ts`; the store and its CPU counters: `_durability_store.ts`.
 *
 * @module
 */

import {
  type Closed,
  closedLoop,
  type Cpu,
  type Paced,
  pacedMix,
  percentile,
} from "./_durability_load.ts";
import { COMMIT_INTERVAL_MS, Measured } from "./_durability_store.ts";

interface Options {
  quick: boolean;
  warmMs: number;
  runMs: number;
  dir: string | undefined;
}

function parseOptions(args: string[]): Options {
  const quick = args.includes("--quick");
  const arg = args.find((a) => a.startsWith("--seconds="));
  const seconds = arg === undefined ? (quick ? 1 : 3) : Number(arg.slice(10));
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new RangeError(`Cannot use '${arg}': not a number of seconds`);
  }
  return {
    quick,
    warmMs: quick ? 200 : 500,
    runMs: seconds * 1000,
    dir: args.find((a) => !a.startsWith("--")),
  };
}

const CONCURRENCY = [1, 8, 64];
// Reads/s and writes/s. The two without writes show group commit alone: with writes, their urgent
// commits carry whatever reads are queued, so reads reach disk sooner than the interval.
const MIXES: [number, number][] = [[5_000, 500], [20_000, 500], [5_000, 0], [20_000, 0]];

/** A number for a table: grouped thousands, fixed digits, "–" when missing. */
const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n) ? "–" : n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });

const triple = (sorted: number[], digits = 2) =>
  sorted.length === 0 ? "–" : [
    percentile(sorted, 0.5),
    percentile(sorted, 0.99),
    sorted[sorted.length - 1],
  ].map((n) => fmt(n, digits)).join(" / ");

interface ClosedRow {
  concurrency: number;
  write: Closed;
  read: Closed;
}

function closedTable(rows: ClosedRow[]): string {
  const lines = [
    "| action | conc. | actions/s | durable wait p50 / p99 / max ms | commits per action | rows per commit | main µs/action | writer µs/action | refused |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { concurrency, write, read } of rows) {
    for (const [label, r] of [["write (durable)", write], ["read (not durable)", read]] as const) {
      lines.push(
        `| ${label} | ${concurrency} | ${fmt(r.actions / r.seconds)} | ${
          label.startsWith("write") ? triple(r.waitMs) : "–"
        } | ${fmt(r.commits / r.actions, 3)} | ${fmt(r.rows / r.commits, 1)} | ${
          fmt(r.cpu.mainUs, 1)
        } | ${fmt(r.cpu.writerUs, 1)} | ${r.refused} |`,
      );
    }
  }
  return lines.join("\n");
}

function ratioTable(rows: ClosedRow[]): string {
  const lines = [
    "| conc. | read rate / write rate | write / read main µs | write / read writer µs | write / read commits per action |",
    "|---:|---:|---:|---:|---:|",
  ];
  const rate = (r: Closed) => r.actions / r.seconds;
  const ratio = (a: number, b: number) => fmt(a / b, 2);
  const cpu = (w: Cpu, r: Cpu, k: keyof Cpu) => ratio(w[k], r[k]);
  for (const { concurrency, write, read } of rows) {
    lines.push(
      `| ${concurrency} | ${ratio(rate(read), rate(write))} | ${
        cpu(write.cpu, read.cpu, "mainUs")
      } | ${cpu(write.cpu, read.cpu, "writerUs")} | ${
        ratio(write.commits / write.actions, read.commits / read.actions)
      } |`,
    );
  }
  return lines.join("\n");
}

interface PacedRow {
  readsPerSec: number;
  writesPerSec: number;
  r: Paced;
}

/** The promise plus slack for the commit that carries the row (and one it may queue behind). */
const boundMs = (r: Paced) => COMMIT_INTERVAL_MS + 2 * percentile(r.commitMs, 0.99);

function pacedTable(rows: PacedRow[]): string {
  const lines = [
    "| load (asked) | reads/s | writes/s | commits/s | rows per commit | commit p50 / p99 ms | read age p50 / p99 / max ms | bound ms | write wait p50 / p99 / max ms | timer late p99 ms | max queued rows | main / writer CPU % | main / writer run-queue wait % | refused |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { readsPerSec, writesPerSec, r } of rows) {
    const ms = r.commitMs;
    lines.push(
      `| ${fmt(readsPerSec)} reads/s + ${fmt(writesPerSec)} writes/s | ${
        fmt(r.reads / r.seconds)
      } | ${fmt(r.writes / r.seconds)} | ${fmt(r.commits / r.seconds)} | ${
        fmt(r.rows / r.commits, 1)
      } | ${fmt(percentile(ms, 0.5), 2)} / ${fmt(percentile(ms, 0.99), 2)} | ${
        triple(r.readAgeMs, 1)
      } | ${fmt(boundMs(r), 1)} | ${triple(r.writeWaitMs)} | ${fmt(r.lateP99Ms, 2)} | ${
        fmt(r.maxQueued)
      } | ${fmt(r.share.mainCpu)} / ${fmt(r.share.writerCpu)} | ${fmt(r.share.mainWait)} / ${
        fmt(r.share.writerWait)
      } | ${r.refused} |`,
    );
  }
  return lines.join("\n");
}

async function run(options: Options): Promise<void> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "clawpatrol_durability_bench_" });
  const began = performance.now();
  const loadAverage = loadAvg();
  const say = (line: string) =>
    console.log(`[${((performance.now() - began) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  let n = 0;
  const withStore = async <T>(what: (m: Measured) => Promise<T>): Promise<T> => {
    const m = await Measured.open(`${dir}/durability_${Deno.pid}_${n++}.db`);
    try {
      return await what(m);
    } finally {
      await m.store.close();
    }
  };
  try {
    const closed: ClosedRow[] = [];
    for (const concurrency of CONCURRENCY) {
      // Write then read at each concurrency, back to back, so drift on the box hits both alike.
      const write = await withStore((m) =>
        closedLoop(m, true, concurrency, options.warmMs, options.runMs)
      );
      const read = await withStore((m) =>
        closedLoop(m, false, concurrency, options.warmMs, options.runMs)
      );
      closed.push({ concurrency, write, read });
      say(`closed loop, concurrency ${concurrency}: done`);
    }
    const paced: PacedRow[] = [];
    for (const [readsPerSec, writesPerSec] of MIXES) {
      const r = await withStore((m) =>
        pacedMix(m, readsPerSec, writesPerSec, options.warmMs, options.runMs)
      );
      paced.push({ readsPerSec, writesPerSec, r });
      say(`paced ${readsPerSec} reads/s + ${writesPerSec} writes/s: done`);
    }
    report(options, dir, closed, paced, `${loadAverage} → ${loadAvg()}`);
  } finally {
    if (options.dir === undefined) await Deno.remove(dir, { recursive: true });
  }
}

// Other processes share the box's cores: say how busy it was.
function loadAvg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
  } catch {
    return "?";
  }
}

function report(
  options: Options,
  dir: string,
  closed: ClosedRow[],
  paced: PacedRow[],
  load: string,
): void {
  const s = options.runMs / 1000;
  console.log(`
Receipts in ${dir} (fresh store per row: worker writer, WAL, synchronous=FULL, commit interval ${COMMIT_INTERVAL_MS} ms), ${s} s measured per row after ${options.warmMs} ms of warm-up. ${navigator.hardwareConcurrency} CPUs, 1-min load average ${load} (start → end).

## 1. Closed loop: each action reserve() → await durable → one event-loop turn → complete()

Columns: actions/s completed in the window; durable wait = reserve() until \`durable\` resolved
(writes only: reads do not wait); commits per action = fsynced transactions (onFlush) per
action, the fsync bill; rows per commit = receipt and outcome rows per transaction (an outcome
counts when its receipt had already left the process); main / writer µs/action = CPU of the event
loop's thread (reserve, complete, messages, and this bench's loop) and of the writer worker's
thread (SQLite, hashing, fsync), from /proc; refused = reserve() threw (queue full: a deny;
that action backs off 5 ms). Reads are not paced here: they run until the writer's queue is
full, so their rate is the writer's ceiling for reads, not a gateway's read rate.
`);
  console.log(closedTable(closed));
  console.log(`
Write over read at the same concurrency (a ratio > 1 is what durability costs):
`);
  console.log(ratioTable(closed));
  console.log(`
## 2. Paced mixed load, commit interval ${COMMIT_INTERVAL_MS} ms

Columns: reads/s and writes/s achieved in the window; commits/s and rows per commit in the
window; commit ms = the writer's time per transaction (onFlush durationMs); read age = from a
read's reserve() to the arrival on the event loop of the commit that included its row (an upper
bound on when it was on disk); bound = commit interval + 2 × p99 commit; write wait = a durable
write's reserve() → durable under this load; timer late = how late the pacing timer fired (the
event loop was busy); max queued rows = most rows awaiting a commit at a slot's start (one
interval of this load is rate × 2 × 50 ms rows, outcomes included; more means the writer fell
behind); CPU % and run-queue wait % = share of the window the event loop's thread and the
writer's ran on a CPU, and waited for one while runnable (other processes on the box: a starved
writer commits late however well it schedules); refused = reserve() threw.
`);
  console.log(pacedTable(paced));
  console.log(`
The promise: a provable read's receipt is on disk within receipt_commit_interval of the decision,
plus the commit itself. PASS when the max read age ≤ ${COMMIT_INTERVAL_MS} ms + 2 × p99 commit ms:
`);
  let ok = true;
  for (const { readsPerSec, writesPerSec, r } of paced) {
    const max = r.readAgeMs[r.readAgeMs.length - 1];
    const pass = max <= boundMs(r);
    const over = r.readAgeMs.filter((a) => a > boundMs(r)).length;
    console.log(
      `- ${pass ? "PASS" : "MISS"} ${fmt(readsPerSec)} reads/s + ${fmt(writesPerSec)} writes/s: ` +
        `max age ${fmt(max, 1)} ms vs bound ${fmt(boundMs(r), 1)} ms ` +
        `(${COMMIT_INTERVAL_MS} + 2 × ${fmt(percentile(r.commitMs, 0.99), 2)}); ` +
        `${fmt(over)} of ${fmt(r.readAgeMs.length)} reads over it; p99 ${
          fmt(percentile(r.readAgeMs, 0.99), 1)
        } ms; queue peaked at ${fmt(r.maxQueued)} rows; the writer waited for a CPU ${
          fmt(r.share.writerWait)
        }% of the window`,
    );
    if (r.tracked !== r.committed || r.pushed !== r.committed) {
      ok = false;
      console.log(
        `  CHECK FAILED: the bench queued ${r.pushed} rows and tracked ${r.tracked} as committed; the store committed ${r.committed}`,
      );
    }
  }
  if (!ok) Deno.exitCode = 1;
}

await run(parseOptions(Deno.args));
