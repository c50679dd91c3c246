/**
 * `gateway { receipts { … } }`: what receipts keep of request bodies, and for how long receipts
 * are kept at all.
 *
 * @module
 */

import type { BlockReader } from "./_fields.ts";
import type { ReceiptsConfig } from "./types.ts";

/** A 4 KiB sample of each body, receipts kept forever: what a config that says nothing gets. */
export function defaultReceipts(): ReceiptsConfig {
  return { bodies: "sample", sampleBytes: 4096, keepMs: null };
}

/** The shortest `keep`: anything shorter would prune what is still being decided and approved. */
const MIN_KEEP_MS = 3_600_000;

/** Reads the nested `receipts` block of `gateway`, or the defaults when there is none. */
export function readReceipts(r: BlockReader): ReceiptsConfig {
  const d = defaultReceipts();
  const raw = r.raw("receipts");
  if (raw === undefined) return d;
  const bodies = Array.isArray(raw) ? raw : [raw];
  let read = d;
  bodies.forEach((body, occurrence) => {
    const rr = r.nested("receipts", body, occurrence);
    if (occurrence > 0) rr.problem("defined more than once in one gateway block");
    const keep = rr.has("keep") ? rr.duration("keep", MIN_KEEP_MS) : null;
    const got: ReceiptsConfig = {
      bodies: rr.oneOf("bodies", ["none", "sample", "full"], d.bodies),
      sampleBytes: rr.size("sample_bytes", d.sampleBytes),
      keepMs: keep,
    };
    if (got.sampleBytes < 1) rr.problem("'sample_bytes' must be at least 1", "sample_bytes");
    if (keep !== null && keep < MIN_KEEP_MS) rr.problem("'keep' must be at least 1h", "keep");
    rr.reportUnknown();
    if (occurrence === 0) read = got;
  });
  return read;
}
