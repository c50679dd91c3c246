/**
 * What an idle gateway holds, step by step: RSS (private and file-backed), V8 heap and threads of
 * one process that imports the gateway's modules and starts it on `clawpatrol init`'s config,
 * after a full GC at each step. Beside it, this design's floor: a bare `deno` with one worker and
 * `node:tls` and `node:sqlite` loaded (the receipt writer is a worker). Each sample is a fresh
 * process; runs alternate floor and gateway, since RSS drifts by several MB from run to run.
 *
 *     deno run -A bench/start_memory.ts [--runs=3]
 *
 * Linux only (`/proc/self/status`).
 *
 * @module
 */

import { join } from "node:path";
// The V8 flags the launcher runs the gateway with; the floor gets them too, for a like floor.
import { SHIPPED_V8_FLAGS } from "./_child.ts";

/** The target, and the one proposed with the numbers (bench/README.md). */
const TARGET_MB = 80;
const OVER_FLOOR_MB = 40;

interface Step {
  step: string;
  rssMb: number;
  anonMb: number;
  fileMb: number;
  heapMb: number;
  threads: number;
}

function sample(step: string): Step {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  return {
    step,
    rssMb: kb("VmRSS") / 1024,
    anonMb: kb("RssAnon") / 1024,
    fileMb: kb("RssFile") / 1024,
    heapMb: Deno.memoryUsage().heapUsed / 1048576,
    threads: kb("Threads"),
  };
}

/** After two full GCs and a pause, so what is measured is what stays. */
async function settled(step: string): Promise<Step> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  await new Promise((resolve) => setTimeout(resolve, 300));
  gc();
  return sample(step);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The child measuring the floor: one worker, `node:tls` and `node:sqlite`. */
async function floorChild(): Promise<Step[]> {
  const steps = [await settled("bare deno")];
  await import("node:tls");
  await import("node:sqlite");
  const source = "import 'node:sqlite'; import 'node:crypto'; self.postMessage('up');";
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  await new Promise((resolve) => worker.onmessage = resolve);
  steps.push(await settled("floor: + worker, node:tls, node:sqlite"));
  worker.terminate();
  return steps;
}

/** The child measuring a gateway started in it on `init`'s config in `dir`. */
async function gatewayChild(dir: string): Promise<Step[]> {
  const steps = [await settled("bare deno")];
  const { initialise } = await import("../src/cli/init.ts");
  const { Gateway } = await import("../src/gateway/mod.ts");
  steps.push(await settled("gateway modules imported"));
  const config = await initialise(dir, {
    proxyListen: `127.0.0.1:${freePort()}`,
    adminListen: `127.0.0.1:${freePort()}`,
  });
  const quiet = { log() {} } as unknown as Parameters<typeof Gateway.start>[1]["log"];
  const gateway = await Gateway.start(config, { log: quiet, version: "bench", watch: false });
  steps.push(await settled("started"));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  steps.push(await settled("started, 2 s idle"));
  await gateway.stop();
  return steps;
}

async function runChild(kind: "floor" | "gateway"): Promise<Step[]> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-start-memory-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `--v8-flags=--expose-gc,${SHIPPED_V8_FLAGS}`,
        new URL(import.meta.url).pathname,
        `--child=${kind}`,
        join(dir, "gw"),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    if (out.code !== 0) {
      throw new Error(`${kind} child failed: ${text.decode(out.stderr).slice(0, 2000)}`);
    }
    return JSON.parse(text.decode(out.stdout).trim().split("\n").at(-1)!);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const child = Deno.args.find((a) => a.startsWith("--child="))?.slice("--child=".length);
if (child === "floor") {
  console.log(JSON.stringify(await floorChild()));
  Deno.exit(0);
}
if (child === "gateway") {
  console.log(JSON.stringify(await gatewayChild(Deno.args.at(-1)!)));
  Deno.exit(0);
}

const runs = Number(Deno.args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 3);
const byStep = new Map<string, Step[]>();
for (let run = 1; run <= runs; run++) {
  for (const kind of ["floor", "gateway"] as const) {
    console.error(`run ${run}/${runs}: ${kind}`);
    for (const s of await runChild(kind)) byStep.set(s.step, [...byStep.get(s.step) ?? [], s]);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[]) =>
  `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
console.log(`\n${runs} runs each, one fresh process per run, after a full GC at each step`);
console.log("| step | RSS MB | private | file-backed | V8 heap MB | threads |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const [step, xs] of byStep) {
  const cols = [
    range(xs.map((s) => s.rssMb)),
    range(xs.map((s) => s.anonMb)),
    range(xs.map((s) => s.fileMb)),
    median(xs.map((s) => s.heapMb)).toFixed(1),
    String(median(xs.map((s) => s.threads))),
  ];
  console.log(`| ${step} | ${cols.join(" | ")} |`);
}
const started = median(byStep.get("started, 2 s idle")!.map((s) => s.rssMb));
const floor = median(byStep.get("floor: + worker, node:tls, node:sqlite")!.map((s) => s.rssMb));
const verdict = (ok: boolean) => ok ? "PASS" : "MISS";
console.log(
  `${verdict(started <= TARGET_MB)} idle RSS after start: ${started.toFixed(1)} MB ` +
    `(target ≤ ${TARGET_MB} MB)`,
);
console.log(
  `${verdict(started <= floor + OVER_FLOOR_MB)} idle RSS over this design's floor: ` +
    `${(started - floor).toFixed(1)} MB over ${
      floor.toFixed(1)
    } (proposed target ≤ +${OVER_FLOOR_MB} MB)`,
);
