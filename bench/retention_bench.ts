/**
 * Retention and replay at scale: pruning a million old receipts while the store keeps taking new
 * ones (what `gateway.receipts.keep` does to a serving gateway), then `clawpatrol replay`'s
 * speed over what is left.
 *
 *     deno run -A bench/retention_bench.ts [--receipts=1000000] [--rate=2000] [--quick]
 *
 * 1. Fill: `--receipts` receipts dated 40 days ago, through the store as a gateway writes them
 *    (writer worker, WAL, synchronous = FULL), HTTP facts as the HTTPS bench's requests have.
 * 2. Prune while serving: the gateway's retention (`keep` = 30 days, 500-row batches run by the
 *    writer between its commits) runs while this process records `--rate` new receipts a second
 *    in 10 ms slots. Reported: how long pruning took and its rows/s, how late the slots' timers
 *    fired (the event loop's stalls), how many records were refused (must be 0: pruning never
 *    locks the writer out), and `log verify` afterwards.
 * 3. Replay: the receipts left re-decided with a 100-rule policy (`replayReceipt`, as
 *    `clawpatrol replay` does), in receipts per second.
 *
 * `--quick`: 100,000 receipts. Exit code 1 when a check fails.
 *
 * @module
 */

import { join } from "node:path";
import { queryReceipts, ReceiptStore, verifyChain } from "../src/audit/mod.ts";
import type { Config } from "../src/config/mod.ts";
import { loadAndCompile, MemoryLogger } from "../src/gateway/mod.ts";
import { Retention } from "../src/gateway/_retention.ts";
import { replayReceipt } from "../src/cli/_replay.ts";
import { PROTOCOLS } from "../src/protocols/registry.ts";

const DAY = 86_400_000;
const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const quick = Deno.args.includes("--quick");
const total = Number(arg("receipts") ?? (quick ? 100_000 : 1_000_000));
const rate = Number(arg("rate") ?? 2_000);

function facts(i: number) {
  return {
    http: {
      method: "get",
      scheme: "https",
      host: "api.test",
      port: 443,
      path: `/items/${i}`,
      query: { fields: ["all"] },
      headers: { "user-agent": ["clawpatrol-bench/1"], accept: ["application/json"] },
      body: "",
      body_truncated: false,
    },
  };
}

function input(i: number, time: Date) {
  return {
    time,
    ...{ agent: "bot", profile: "bots", endpoint: "api", protocol: "https" },
    ...{ summary: `GET https://api.test/items/${i}`, facts: facts(i), rule: "reads" },
    ...{ mode: "enforce" as const, verdict: "allow" as const, wouldBe: "allow" as const },
    ...{ reason: "rule reads", approvals: [], upstreamStatus: 200, bytesIn: 0, bytesOut: 52 },
    latencyMs: 0.4,
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function fill(store: ReceiptStore): Promise<number> {
  const old = new Date(Date.now() - 40 * DAY);
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    // Paced by the queue: wait for the writer whenever a batch's worth is queued.
    if (store.queued >= 5_000) await store.flushed();
    store.record(input(i, old));
    if (i % 100_000 === 99_999) console.log(`  filled ${i + 1} receipts`);
  }
  await store.flushed();
  return total / ((performance.now() - started) / 1000);
}

/** Records `rate` receipts a second in 10 ms slots until `until` settles; the slots' lateness. */
async function serve(store: ReceiptStore, until: Promise<unknown>) {
  let going = true;
  until.then(() => going = false);
  const late: number[] = [];
  let recorded = 0;
  let refused = 0;
  const perSlot = Math.max(1, Math.round(rate / 100));
  let due = performance.now();
  while (going) {
    due += 10;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    late.push(Math.max(0, performance.now() - due));
    for (let i = 0; i < perSlot; i++) {
      try {
        store.record(input(recorded, new Date()));
        recorded++;
      } catch {
        refused++;
      }
    }
  }
  late.sort((a, b) => a - b);
  return { late, recorded, refused };
}

async function pruneWhileServing(store: ReceiptStore) {
  const keep = { gateway: { receipts: { keepMs: 30 * DAY } } } as unknown as Config;
  const log = new MemoryLogger();
  const retention = new Retention((cutoff) => store.prune(cutoff), () => keep, log);
  const baseline = await serve(store, new Promise((r) => setTimeout(r, 2_000)));
  const started = performance.now();
  const done = retention.round();
  const served = await serve(store, done);
  const seconds = (performance.now() - started) / 1000;
  await store.flushed();
  const errors = log.messages("error");
  return {
    seconds,
    recorded: baseline.recorded + served.recorded,
    refused: baseline.refused + served.refused,
    late: served.late,
    baseline: baseline.late,
    errors,
  };
}

function replaySpeed(path: string, policy: Awaited<ReturnType<typeof loadAndCompile>>["policy"]) {
  const receipts = queryReceipts(path, { limit: 1_000_000, afterSeq: 0 });
  const started = performance.now();
  let changed = 0;
  for (const r of receipts) {
    if (replayReceipt(r, policy, PROTOCOLS).status === "changed") changed++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { count: receipts.length, perSecond: receipts.length / seconds, changed };
}

/**
 * 100 rules, the matching one last. `guarded`: the others also name a method, as most real rules
 * do, which the policy's index uses to skip them for a GET; otherwise each one's CEL runs.
 */
async function candidate(dir: string, guarded: boolean) {
  const guard = guarded ? "http.method == 'post' && " : "";
  const rules = Array.from(
    { length: 99 },
    (_, i) =>
      `rule "r${i}" {\n  endpoint = https.api\n  condition = "${guard}http.path.startsWith('/repos/o${i}/')"\n  verdict = "deny"\n}\n`,
  );
  const config = `schema_version = 1
gateway {
  state_dir = "./state"
}
endpoint "https" "api" {
  hosts = ["api.test"]
}
${rules.join("")}rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
`;
  const file = join(dir, `candidate-${guarded}.hcl`);
  await Deno.writeTextFile(file, config);
  return await loadAndCompile(file);
}

const dir = await Deno.makeTempDir({ prefix: "clawpatrol_retention_bench_" });
let failed = false;
try {
  const path = join(dir, "receipts.db");
  const store = ReceiptStore.open(path);
  console.log(`fill: ${total} receipts dated 40 days ago`);
  const fillRate = await fill(store);
  console.log(`prune while serving: keep 30 days, ${rate} new receipts/s`);
  const p = await pruneWhileServing(store);
  await store.close();
  const verified = verifyChain(path);
  const replay = replaySpeed(path, (await candidate(dir, true)).policy);
  const unguarded = replaySpeed(path, (await candidate(dir, false)).policy);
  console.log(`\n| measure | value |\n|---|---:|`);
  console.log(`| fill rate (receipts/s) | ${Math.round(fillRate)} |`);
  console.log(`| pruning ${total} receipts: seconds | ${p.seconds.toFixed(1)} |`);
  console.log(`| pruning rate (receipts/s) | ${Math.round(total / p.seconds)} |`);
  console.log(`| new receipts recorded meanwhile | ${p.recorded} |`);
  console.log(`| records refused meanwhile | ${p.refused} |`);
  const lateness = (l: number[]) =>
    `${percentile(l, 0.5).toFixed(1)} / ${percentile(l, 0.99).toFixed(1)} / ${
      l.at(-1)?.toFixed(1)
    }`;
  console.log(`| slot lateness before pruning, p50 / p99 / max ms | ${lateness(p.baseline)} |`);
  console.log(`| slot lateness while pruning, p50 / p99 / max ms | ${lateness(p.late)} |`);
  console.log(`| log verify after | ${verified.ok ? `ok, ${verified.rows} receipts` : "BROKEN"} |`);
  const count = `${replay.count} receipts`;
  console.log(
    `| replay, 100 rules guarded by method (receipts/s) | ${
      Math.round(replay.perSecond)
    } (${count}) |`,
  );
  console.log(`| replay, 100 path-only rules (receipts/s) | ${Math.round(unguarded.perSecond)} |`);

  const checks: [boolean, string][] = [
    [p.refused === 0, `no record refused while pruning (${p.refused})`],
    [p.errors.length === 0, `retention logged no error (${p.errors.join("; ")})`],
    [verified.ok && verified.rows === p.recorded, "the chain left verifies and holds the new ones"],
    [replay.changed + unguarded.changed === 0, "replay with the same rules changes nothing"],
  ];
  console.log("");
  for (const [ok, what] of checks) {
    console.log(`${ok ? "PASS" : "FAIL"} ${what}`);
    if (!ok) failed = true;
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
if (failed) Deno.exit(1);
