/**
 * Receipt export (`gateway.export`): committed receipts are read back from the local store in
 * seq order and shipped to each sink, which advances a cursor (`state_dir/export.json`) only past
 * what it delivered. So each receipt goes out once, in order, across collector outages and
 * gateway restarts; decisions never wait on it (the store is the buffer, and the local store
 * keeps everything whatever the sinks do). A sink that fails backs off (1 s doubling to a
 * minute); receipts pruned by retention before a sink got them are counted and logged, never
 * silently skipped.
 *
 * What is exported is the receipt as committed: for an action forwarded before its outcome came,
 * the decision; the outcome stays in the local store (`clawpatrol log`).
 *
 * @module
 */

import { join } from "node:path";
import { queryReceipts } from "../audit/mod.ts";
import type { Metrics } from "../admin/mod.ts";
import type { Config, ExportConfig } from "../config/mod.ts";
import { writeFileAtomic } from "../core/mod.ts";
import { type ExportSink, JsonlSink, OtlpSink } from "./_export_sinks.ts";
import type { Logger } from "./log.ts";

/** Where each sink's cursor (the seq of the last receipt it has) is kept. */
export const EXPORT_CURSOR_FILE = "export.json";
/** Receipts per batch. */
const BATCH = 500;
/** How often committed receipts are looked for. */
const POLL_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;

interface SinkState {
  sink: ExportSink;
  cursor: number;
  failures: number;
  retryAt: number;
}

/** Ships the receipts at `path` to the configured sinks while the gateway runs. */
export class ReceiptExport {
  readonly #path: string;
  readonly #cursorFile: string;
  readonly #config: () => Config;
  readonly #log: Logger;
  readonly #sent;
  readonly #missed;
  readonly #failed;
  readonly #backoffMs: number;
  #sinks: SinkState[] = [];
  #configured: ExportConfig | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;

  /** `backoffMs`: the first retry's delay after a failure (tests shorten it). */
  constructor(
    path: string,
    stateDir: string,
    config: () => Config,
    log: Logger,
    metrics: Metrics,
    backoffMs = 1_000,
  ) {
    this.#backoffMs = backoffMs;
    this.#path = path;
    this.#cursorFile = join(stateDir, EXPORT_CURSOR_FILE);
    this.#config = config;
    this.#log = log;
    this.#sent = metrics.counter(
      "clawpatrol_export_receipts_total",
      "Receipts delivered to an export sink, by sink.",
      ["sink"],
    );
    this.#missed = metrics.counter(
      "clawpatrol_export_missed_total",
      "Receipts pruned by retention before an export sink got them, by sink.",
      ["sink"],
    );
    this.#failed = metrics.counter(
      "clawpatrol_export_failures_total",
      "Failed deliveries to an export sink (retried with backoff), by sink.",
      ["sink"],
    );
  }

  /** Starts polling (the first round at once). */
  start(): void {
    this.#tick(0);
  }

  /** One round now: every sink due gets its next batches (a round running is joined). */
  round(): Promise<void> {
    this.#running ??= this.#round().finally(() => this.#running = null);
    return this.#running;
  }

  /** Stops polling after one last round (so what was committed before stopping goes out). */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#running;
    await this.round();
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #tick(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.round().finally(() => this.#tick(POLL_MS));
    }, delayMs);
    Deno.unrefTimer(this.#timer);
  }

  async #round(): Promise<void> {
    await this.#configure();
    for (const state of this.#sinks) {
      if (Date.now() < state.retryAt) continue;
      try {
        // Batch after batch while there is a backlog; the event loop is free between them.
        while (await this.#ship(state) === BATCH) await new Promise((r) => setTimeout(r, 0));
      } catch (err) {
        this.#failed.inc({ sink: state.sink.name });
        if (state.failures === 0) {
          this.#log.log(
            "error",
            `export to ${state.sink.name} failed, retrying with backoff: ${(err as Error).message}`,
          );
        }
        state.failures++;
        state.retryAt = Date.now() +
          Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2 ** (state.failures - 1));
      }
    }
  }

  /** Sends the next batch; how many receipts it held. */
  async #ship(state: SinkState): Promise<number> {
    const batch = queryReceipts(this.#path, { afterSeq: state.cursor, limit: BATCH });
    if (batch.length === 0) return 0;
    const skipped = batch[0].seq - state.cursor - 1;
    if (skipped > 0 && state.cursor > 0) {
      this.#missed.inc({ sink: state.sink.name }, skipped);
      this.#log.log(
        "error",
        `export to ${state.sink.name}: ${skipped} receipts (after seq ${state.cursor}) were pruned before they were sent`,
      );
    }
    await state.sink.send(batch);
    state.cursor = batch[batch.length - 1].seq;
    await this.#saveCursors();
    this.#sent.inc({ sink: state.sink.name }, batch.length);
    if (state.failures > 0) {
      this.#log.log("info", `export to ${state.sink.name} resumed`);
      state.failures = 0;
      state.retryAt = 0;
    }
    return batch.length;
  }

  /** (Re)builds the sinks when the config's export block changed. */
  async #configure(): Promise<void> {
    const wanted = this.#config().gateway.export;
    if (JSON.stringify(wanted) === JSON.stringify(this.#configured)) return;
    this.#configured = wanted;
    const saved = await this.#loadCursors();
    const sinks: ExportSink[] = [];
    if (wanted?.jsonl) {
      sinks.push(new JsonlSink(wanted.jsonl, wanted.jsonlMaxBytes, wanted.jsonlKeep));
    }
    if (wanted?.otlpUrl) {
      sinks.push(
        new OtlpSink(
          wanted.otlpUrl,
          (count, message) =>
            this.#log.log(
              "warn",
              `export to otlp: the collector refused ${count} receipts: ${message}`,
            ),
        ),
      );
    }
    this.#sinks = [];
    for (const sink of sinks) {
      const delivered = await sink.lastDelivered?.() ?? null;
      const cursor = Math.max(saved[sink.name] ?? 0, delivered ?? 0);
      this.#sinks.push({ sink, cursor, failures: 0, retryAt: 0 });
    }
  }

  async #loadCursors(): Promise<Record<string, number>> {
    try {
      const parsed = JSON.parse(await Deno.readTextFile(this.#cursorFile));
      return typeof parsed === "object" && parsed !== null ? parsed : {};
    } catch {
      return {}; // None yet: every sink starts from the first receipt.
    }
  }

  async #saveCursors(): Promise<void> {
    const cursors = { ...await this.#loadCursors() };
    for (const s of this.#sinks) cursors[s.sink.name] = s.cursor;
    await writeFileAtomic(this.#cursorFile, new TextEncoder().encode(JSON.stringify(cursors)));
  }
}
