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
  return {
    bodies: "sample",
    sampleBytes: 4096,
    keepMs: null,
    anchorEveryMs: DEFAULT_ANCHOR_EVERY_MS,
    anchorFile: null,
    anchorUrl: null,
  };
}

/** Anchors every ten minutes: a rewrite or a cut tail is caught to within that much history. */
const DEFAULT_ANCHOR_EVERY_MS = 600_000;

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
    const every = rr.string("anchor_every");
    const got: ReceiptsConfig = {
      bodies: rr.oneOf("bodies", ["none", "sample", "full"], d.bodies),
      sampleBytes: rr.size("sample_bytes", d.sampleBytes),
      keepMs: keep,
      anchorEveryMs: every === "off"
        ? null
        : rr.has("anchor_every")
        ? rr.duration("anchor_every", d.anchorEveryMs!)
        : d.anchorEveryMs,
      anchorFile: rr.string("anchor_file") ?? null,
      anchorUrl: rr.string("anchor_url") ?? null,
    };
    checkAnchoring(rr, got);
    if (got.sampleBytes < 1) rr.problem("'sample_bytes' must be at least 1", "sample_bytes");
    if (keep !== null && keep < MIN_KEEP_MS) rr.problem("'keep' must be at least 1h", "keep");
    rr.reportUnknown();
    if (occurrence === 0) read = got;
  });
  return read;
}

/** The shortest `anchor_every`: each anchor is a signature and, with `anchor_url`, a POST. */
const MIN_ANCHOR_EVERY_MS = 10_000;

function checkAnchoring(rr: BlockReader, got: ReceiptsConfig): void {
  if (got.anchorEveryMs !== null && got.anchorEveryMs < MIN_ANCHOR_EVERY_MS) {
    rr.problem("'anchor_every' must be at least 10s, or \"off\"", "anchor_every");
  }
  // Relative to what would be ambiguous (the config's directory? the gateway's?), and the
  // point of the file is to live elsewhere: an absolute path says where.
  if (got.anchorFile !== null && !got.anchorFile.startsWith("/")) {
    rr.problem("'anchor_file' must be an absolute path outside state_dir", "anchor_file");
  }
  if (got.anchorUrl !== null) {
    let url: URL | undefined;
    try {
      url = new URL(got.anchorUrl);
    } catch {
      // Reported below.
    }
    const loopback = url?.hostname === "127.0.0.1" || url?.hostname === "localhost" ||
      url?.hostname === "[::1]";
    if (!url || !(url.protocol === "https:" || (url.protocol === "http:" && loopback))) {
      rr.problem("'anchor_url' must be an https:// URL (http:// only to loopback)", "anchor_url");
    }
  }
}
