/**
 * Where exported receipts go: JSON lines (a file rotated by size, or stdout) and OTLP logs over
 * HTTP (the OTLP/HTTP JSON encoding of `ExportLogsServiceRequest`). A sink's `send` resolves once
 * the batch is delivered (written and synced, or acknowledged with a 2xx) and throws otherwise,
 * so the exporter advances its cursor only past what arrived.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";

/** One export destination. */
export interface ExportSink {
  /** `jsonl` or `otlp`: the key of its cursor and its metrics' label. */
  readonly name: "jsonl" | "otlp";
  /** Delivers `receipts` (in seq order) or throws. */
  send(receipts: readonly Receipt[]): Promise<void>;
  /** The seq of the last receipt this destination already holds, when it can tell. */
  lastDelivered?(): Promise<number | null>;
}

/** A receipt as one JSON object: every field, times as ISO strings. */
export function receiptJson(r: Receipt): string {
  return JSON.stringify(r, (_key, value) => typeof value === "bigint" ? value.toString() : value);
}

/** JSON lines appended to `path` (rotated past `maxBytes`, `keep` old files) or to stdout (`-`). */
export class JsonlSink implements ExportSink {
  readonly name = "jsonl";
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #keep: number;

  constructor(path: string, maxBytes: number, keep: number) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#keep = keep;
  }

  async send(receipts: readonly Receipt[]): Promise<void> {
    const bytes = new TextEncoder().encode(receipts.map((r) => receiptJson(r) + "\n").join(""));
    if (this.#path === "-") return await writeAll(Deno.stdout, bytes);
    if (await this.#size() + bytes.length > this.#maxBytes) await this.#rotate();
    const file = await Deno.open(this.#path, { append: true, create: true, mode: 0o600 });
    try {
      await writeAll(file, bytes);
      // Synced before the cursor moves past these receipts: a crash cannot skip them.
      await file.syncData();
    } finally {
      file.close();
    }
  }

  /**
   * The seq on the file's last complete line: a crash between the write and the cursor's save
   * would otherwise send those receipts twice.
   */
  async lastDelivered(): Promise<number | null> {
    if (this.#path === "-") return null;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path, { read: true });
    } catch {
      return null; // No file yet (or rotated away): nothing to learn.
    }
    try {
      const size = (await file.stat()).size;
      const length = Math.min(size, 256 * 1024);
      await file.seek(size - length, Deno.SeekMode.Start);
      const tail = new Uint8Array(length);
      let read = 0;
      while (read < length) {
        const n = await file.read(tail.subarray(read));
        if (n === null) break;
        read += n;
      }
      const lines = new TextDecoder().decode(tail.subarray(0, read)).split("\n");
      for (let i = lines.length - 2; i >= 0; i--) {
        try {
          const seq = JSON.parse(lines[i]).seq;
          if (Number.isSafeInteger(seq)) return seq;
        } catch {
          // A torn first line of the window, or a partial last write: look further back.
        }
      }
      return null;
    } finally {
      file.close();
    }
  }

  async #size(): Promise<number> {
    try {
      return (await Deno.stat(this.#path)).size;
    } catch {
      return 0;
    }
  }

  async #rotate(): Promise<void> {
    await Deno.remove(`${this.#path}.${this.#keep}`).catch(() => {});
    for (let i = this.#keep - 1; i >= 1; i--) {
      await Deno.rename(`${this.#path}.${i}`, `${this.#path}.${i + 1}`).catch(() => {});
    }
    await Deno.rename(this.#path, `${this.#path}.1`);
  }
}

/** OTLP logs over HTTP, JSON encoding: one request per batch. */
export class OtlpSink implements ExportSink {
  readonly name = "otlp";
  readonly #url: string;
  readonly #timeoutMs: number;
  /** Told when a collector accepted a batch but rejected some records for good. */
  readonly #rejected: (count: number, message: string) => void;

  constructor(url: string, rejected: (count: number, message: string) => void, timeoutMs = 10_000) {
    this.#url = url;
    this.#rejected = rejected;
    this.#timeoutMs = timeoutMs;
  }

  async send(receipts: readonly Receipt[]): Promise<void> {
    const response = await fetch(this.#url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(otlpLogs(receipts)),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`the collector answered ${response.status}`);
    // A 2xx is delivery; its body only matters when it says some records were refused for good
    // (a garbled body is not a reason to send the batch again).
    try {
      const partial = JSON.parse(text)?.partialSuccess;
      const count = Number(partial?.rejectedLogRecords ?? 0);
      if (count > 0) this.#rejected(count, String(partial?.errorMessage ?? "").slice(0, 200));
    } catch {
      // Not JSON: delivered all the same.
    }
  }
}

/** The OTLP/HTTP JSON body for `receipts`: one log record each, the receipt as attributes. */
export function otlpLogs(receipts: readonly Receipt[]): unknown {
  const str = (key: string, value: string | null | undefined) =>
    value === null || value === undefined ? [] : [{ key, value: { stringValue: value } }];
  const int = (key: string, value: number | null | undefined) =>
    value === null || value === undefined ? [] : [{ key, value: { intValue: String(value) } }];
  return {
    resourceLogs: [{
      resource: { attributes: str("service.name", "clawpatrol") },
      scopeLogs: [{
        scope: { name: "clawpatrol.receipts" },
        logRecords: receipts.map((r) => ({
          timeUnixNano: `${BigInt(r.time.getTime()) * 1_000_000n}`,
          severityText: r.verdict === "deny" ? "WARN" : "INFO",
          body: { stringValue: `${r.verdict} ${r.summary}` },
          attributes: [
            ...str("clawpatrol.receipt.id", r.id),
            ...int("clawpatrol.receipt.seq", r.seq),
            ...str("clawpatrol.receipt.hash", r.hash),
            ...str("clawpatrol.agent", r.agent),
            ...str("clawpatrol.profile", r.profile),
            ...str("clawpatrol.endpoint", r.endpoint),
            ...str("clawpatrol.protocol", r.protocol),
            ...str("clawpatrol.rule", r.rule),
            ...str("clawpatrol.mode", r.mode),
            ...str("clawpatrol.verdict", r.verdict),
            ...str("clawpatrol.would_be", r.wouldBe),
            ...str("clawpatrol.reason", r.reason),
            ...int("clawpatrol.upstream_status", r.upstreamStatus),
            ...str("clawpatrol.receipt", receiptJson(r)),
          ],
        })),
      }],
    }],
  };
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  let at = 0;
  while (at < bytes.length) at += await w.write(bytes.subarray(at));
}
