import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Metrics } from "../admin/mod.ts";
import { pruneBatch, ReceiptStore } from "../audit/mod.ts";
import { receiptInput } from "../audit/_testing.ts";
import type { Config, ExportConfig } from "../config/mod.ts";
import { MemoryLogger } from "./log.ts";
import { EXPORT_CURSOR_FILE, ReceiptExport } from "./_export.ts";

const DAY = 86_400_000;

function configOf(e: Partial<ExportConfig>): () => Config {
  const exported = { jsonl: null, jsonlMaxBytes: 1 << 30, jsonlKeep: 3, otlpUrl: null, ...e };
  return () => ({ gateway: { export: exported } }) as unknown as Config;
}

async function withStore(fn: (dir: string, store: ReceiptStore) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_export_" });
  const store = ReceiptStore.open(join(dir, "receipts.db"));
  try {
    await fn(dir, store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function record(store: ReceiptStore, n: number, time = new Date()): Promise<void> {
  for (let i = 0; i < n; i++) store.record(receiptInput({ time }));
  await store.flushed();
}

const seqsIn = async (file: string) =>
  (await Deno.readTextFile(file)).trim().split("\n").map((l) => JSON.parse(l).seq as number);

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

Deno.test("JSON lines: every receipt once and in order, across a restart and a lost cursor", async () => {
  await withStore(async (dir, store) => {
    const file = join(dir, "out", "receipts.jsonl");
    await Deno.mkdir(join(dir, "out"));
    const config = configOf({ jsonl: file });
    await record(store, 700); // more than one batch
    const first = new ReceiptExport(store.path, dir, config, new MemoryLogger(), new Metrics());
    await first.round();
    deepStrictEqual(await seqsIn(file), range(1, 700));
    await record(store, 5);
    await first.stop(); // its last round ships what was committed before it stopped
    deepStrictEqual(await seqsIn(file), range(1, 705));
    // A restart picks up from the cursor file.
    await record(store, 3);
    const second = new ReceiptExport(store.path, dir, config, new MemoryLogger(), new Metrics());
    await second.round();
    deepStrictEqual(await seqsIn(file), range(1, 708));
    // A crash after the write but before the cursor's save: the file's last line says where.
    await Deno.remove(join(dir, EXPORT_CURSOR_FILE));
    await record(store, 2);
    const third = new ReceiptExport(store.path, dir, config, new MemoryLogger(), new Metrics());
    await third.round();
    deepStrictEqual(await seqsIn(file), range(1, 710));
    const line = JSON.parse((await Deno.readTextFile(file)).split("\n")[0]);
    equal(line.id.startsWith("rcpt_"), true);
    equal(typeof line.hash, "string");
  });
});

Deno.test("JSON lines rotate past the size limit and keep only so many old files", async () => {
  await withStore(async (dir, store) => {
    const file = join(dir, "receipts.jsonl");
    const config = configOf({ jsonl: file, jsonlMaxBytes: 20_000, jsonlKeep: 2 });
    const exporter = new ReceiptExport(store.path, dir, config, new MemoryLogger(), new Metrics());
    for (let i = 0; i < 8; i++) {
      await record(store, 20);
      await exporter.round();
    }
    const kept = [`${file}.2`, `${file}.1`, file];
    const seqs = (await Promise.all(kept.map(seqsIn))).flat();
    ok(seqs.length < 160, "the oldest file was dropped");
    deepStrictEqual(
      seqs,
      range(161 - seqs.length, 160),
      "the kept files hold the newest, in order",
    );
    await Deno.stat(`${file}.3`).then(() => ok(false, "only two old files"), () => {});
  });
});

Deno.test("OTLP: a collector that fails, garbles and restarts still gets each receipt once, in order", async () => {
  await withStore(async (dir, store) => {
    const got: number[] = [];
    let mode: "ok" | "fail" | "garble" = "fail";
    const handler = async (req: Request) => {
      const body = await req.json();
      if (mode === "fail") return new Response("busy", { status: 503 });
      for (const record of body.resourceLogs[0].scopeLogs[0].logRecords) {
        const seq = record.attributes.find((a: { key: string }) =>
          a.key === "clawpatrol.receipt.seq"
        );
        got.push(Number(seq.value.intValue));
      }
      return new Response(mode === "garble" ? "{not json" : "{}", { status: 200 });
    };
    let server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
    const port = server.addr.port;
    const config = configOf({ otlpUrl: `http://127.0.0.1:${port}/v1/logs` });
    const log = new MemoryLogger();
    const metrics = new Metrics();
    const exporter = new ReceiptExport(store.path, dir, config, log, metrics, 1);
    await record(store, 10);
    await exporter.round();
    deepStrictEqual(got, [], "503: nothing delivered");
    match(log.messages("error")[0], /export to otlp failed, retrying with backoff: .*503/);
    mode = "garble";
    await new Promise((r) => setTimeout(r, 5)); // past the (shortened) backoff
    await exporter.round();
    deepStrictEqual(got, range(1, 10));
    // The collector goes away and comes back on the same address.
    await server.shutdown();
    await record(store, 4);
    await exporter.round();
    mode = "ok";
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handler);
    for (let i = 0; i < 200 && got.length < 14; i++) {
      await new Promise((r) => setTimeout(r, 10));
      await exporter.round();
    }
    deepStrictEqual(got, range(1, 14));
    ok(log.messages("info").some((m) => m === "export to otlp resumed"));
    match(metrics.render(), /clawpatrol_export_receipts_total\{sink="otlp"\} 14/);
    // A gateway restart: the cursor holds.
    await record(store, 1);
    await new ReceiptExport(store.path, dir, config, log, new Metrics(), 1).round();
    deepStrictEqual(got, range(1, 15));
    await server.shutdown();
  });
});

Deno.test("receipts pruned before a sink got them are counted and logged, not skipped silently", async () => {
  await withStore(async (dir, store) => {
    const file = join(dir, "receipts.jsonl");
    const config = configOf({ jsonl: file });
    const log = new MemoryLogger();
    const metrics = new Metrics();
    const exporter = new ReceiptExport(store.path, dir, config, log, metrics);
    const old = new Date(Date.now() - 10 * DAY);
    await record(store, 1, old);
    await exporter.round();
    await record(store, 4, old);
    await record(store, 1);
    // Retention runs before the exporter's next round (the newest row always stays).
    while (pruneBatch(store.path, new Date(Date.now() - DAY)).receipts > 0) { /* all old */ }
    await exporter.round();
    ok(log.messages("error").some((m) => /4 receipts \(after seq 1\) were pruned before/.test(m)));
    match(metrics.render(), /clawpatrol_export_missed_total\{sink="jsonl"\} 4/);
    deepStrictEqual(await seqsIn(file), [1, 6]);
  });
});
