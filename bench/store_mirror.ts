/**
 * What copying receipts into the shared store costs the gateway (issue 24): `ReceiptMirror`
 * copies `--receipts` committed receipts (Postgres selects, as `pgbench -S` leaves them) from a
 * local receipts database into a throwaway PostgreSQL in one round, and this prints the CPU it took
 * in this process (the gateway's side: reading the rows back from SQLite, their canonical text, the
 * driver's encoding) per receipt, and the wall time. It isolates the part of `store_bench.ts`'s
 * per-action difference that the copy explains.
 *
 * ```sh
 * deno run -A bench/store_mirror.ts [--receipts=20000]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { ReceiptStore } from "../src/audit/mod.ts";
import { parseStoreUrl } from "../src/config/_store.ts";
import { openStore, ReceiptMirror } from "../src/store/mod.ts";
import { startSharedStore } from "../tests/_shared_store.ts";
import { cpuMs } from "./_pg_setup.ts";

const { values } = parseArgs({ options: { receipts: { type: "string", default: "20000" } } });
const N = Number(values.receipts);

const dir = await Deno.makeTempDir({ prefix: "clawpatrol_store_mirror_" });
const shared = await startSharedStore();
try {
  const path = join(dir, "receipts.db");
  const local = ReceiptStore.open(path);
  for (let i = 0; i < N; i++) {
    if (i % 1000 === 0) await local.flushed();
    local.record({
      time: new Date(),
      ...{ agent: "bench-agent", profile: "bench", endpoint: "pg", protocol: "postgres" },
      summary: `SELECT abalance FROM pgbench_accounts WHERE aid = ${i}`,
      facts: { sql: { verb: "select", verbs: ["select"], tables: ["pgbench_accounts"] } },
      ...{ rule: "pg-read", mode: "enforce" as const, verdict: "deny" as const },
      ...{ wouldBe: "deny" as const, reason: "bench", approvals: [] },
      ...{ upstreamStatus: null, bytesIn: 0, bytesOut: 0, latencyMs: 1 },
    });
  }
  await local.close();
  const settings = parseStoreUrl(shared.url);
  if (typeof settings === "string") throw new Error(settings);
  const store = await openStore({ ...settings, password: shared.password });
  try {
    const mirror = new ReceiptMirror(store.sql, "gw_00000000000000b1", path);
    const cpu = cpuMs("self");
    const start = performance.now();
    await mirror.round();
    const cpuUs = (cpuMs("self") - cpu) * 1000 / N;
    const wallUs = (performance.now() - start) * 1000 / N;
    const [{ n }] = await store.sql`SELECT count(*)::int AS n FROM clawpatrol_receipts`;
    if (n !== N) throw new Error(`copied ${n} of ${N} receipts`);
    console.log(
      `${N} receipts copied in one round: ${cpuUs.toFixed(1)} µs CPU and ${
        wallUs.toFixed(1)
      } µs wall per receipt in the gateway's process`,
    );
  } finally {
    await store.close();
  }
} finally {
  await shared.stop();
  await Deno.remove(dir, { recursive: true });
}
