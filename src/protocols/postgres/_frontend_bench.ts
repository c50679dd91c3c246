/**
 * FrontendDecoder throughput on a pgbench-like stream (`pgbench -S -M extended`): per transaction
 * Parse, Bind (one text int param), Describe portal, Execute, Sync. Each iteration decodes 1,000
 * transactions = 5,000 messages; divide the time per iteration by 5,000 for µs per message.
 *
 * Run: deno bench -A src/protocols/postgres/_frontend_bench.ts
 */

// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import { serialize } from "npm:pg-protocol@1.16.1";
import { concatBytes } from "../../core/mod.ts";
import { FrontendDecoder } from "./_frontend.ts";

const TRANSACTIONS = 1000;
const MESSAGES = TRANSACTIONS * 5;

const parts: Uint8Array[] = [];
for (let i = 0; i < TRANSACTIONS; i++) {
  parts.push(
    serialize.parse({ text: "SELECT abalance FROM pgbench_accounts WHERE aid = $1;" }),
    serialize.bind({ values: [String(1 + (i * 7919) % 100000)] }),
    serialize.describe({ type: "P" }),
    serialize.execute(),
    serialize.sync(),
  );
}
const stream = concatBytes(parts);

/** Pieces of `size` bytes (copied, as socket reads would be). */
function pieces(size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(stream.slice(i, i + size));
  return out;
}

function decode(chunks: Uint8Array[]): void {
  const d = new FrontendDecoder({ maxMessageBytes: 1 << 20 });
  let n = 0;
  for (const c of chunks) {
    d.push(c);
    while (d.next() !== null) n++;
  }
  if (n !== MESSAGES) throw new Error(`decoded ${n} messages`);
}

const whole = [stream];
const reads64k = pieces(65536);
const segments = pieces(1460);

Deno.bench("frontend decode: 5,000 messages in one push", { baseline: true }, () => decode(whole));
Deno.bench("frontend decode: 5,000 messages in 64 KiB reads", () => decode(reads64k));
Deno.bench("frontend decode: 5,000 messages in 1,460-byte segments", () => decode(segments));
