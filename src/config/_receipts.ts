/**
 * `gateway { receipts { … } }`: what receipts keep of request bodies.
 *
 * @module
 */

import type { BlockReader } from "./_fields.ts";
import type { ReceiptsConfig } from "./types.ts";

/** A 4 KiB sample of each body: what a config that says nothing gets. */
export function defaultReceipts(): ReceiptsConfig {
  return { bodies: "sample", sampleBytes: 4096 };
}

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
    const got: ReceiptsConfig = {
      bodies: rr.oneOf("bodies", ["none", "sample", "full"], d.bodies),
      sampleBytes: rr.size("sample_bytes", d.sampleBytes),
    };
    if (got.sampleBytes < 1) rr.problem("'sample_bytes' must be at least 1", "sample_bytes");
    rr.reportUnknown();
    if (occurrence === 0) read = got;
  });
  return read;
}
