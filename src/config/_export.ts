/**
 * `gateway { export { … } }`: where committed receipts are shipped besides the local store, a
 * JSON line each (a file with size-based rotation, or stdout for journald and Docker) and/or
 * OTLP logs over HTTP (JSON).
 *
 * @module
 */

import type { BlockReader } from "./_fields.ts";
import type { ExportConfig } from "./types.ts";

const MIB = 1024 * 1024;

/** Reads the nested `export` block of `gateway`; null when there is none. */
export function readExport(r: BlockReader): ExportConfig | null {
  const raw = r.raw("export");
  if (raw === undefined) return null;
  const bodies = Array.isArray(raw) ? raw : [raw];
  let read: ExportConfig | null = null;
  bodies.forEach((body, occurrence) => {
    const e = r.nested("export", body, occurrence);
    if (occurrence > 0) e.problem("defined more than once in one gateway block");
    const got: ExportConfig = {
      jsonl: e.string("jsonl") ?? null,
      jsonlMaxBytes: e.size("jsonl_max_size", 100 * MIB),
      jsonlKeep: e.integer("jsonl_keep", 5),
      otlpUrl: e.string("otlp_url") ?? null,
    };
    if (got.jsonl !== null && got.jsonl !== "-" && !got.jsonl.startsWith("/")) {
      e.problem("'jsonl' must be an absolute path, or \"-\" for stdout", "jsonl");
    }
    if (got.jsonlMaxBytes < MIB) {
      e.problem("'jsonl_max_size' must be at least 1MiB", "jsonl_max_size");
    }
    if (got.jsonlKeep < 1 || got.jsonlKeep > 100) {
      e.problem("'jsonl_keep' must be between 1 and 100", "jsonl_keep");
    }
    if (got.otlpUrl !== null) {
      let url: URL | undefined;
      try {
        url = new URL(got.otlpUrl);
      } catch {
        // Reported below.
      }
      if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
        e.problem("'otlp_url' must be an http(s):// URL (an OTLP/HTTP logs endpoint)", "otlp_url");
      }
    }
    if (got.jsonl === null && got.otlpUrl === null) {
      e.problem("an export block needs 'jsonl' or 'otlp_url'");
    }
    e.reportUnknown();
    if (occurrence === 0) read = got;
  });
  return read;
}
