/**
 * `clawpatrol store log` and `store verify`: every gateway's receipts as copied into the shared
 * store, and their hash chains checked from the store alone. `log`, `log verify` and `report`
 * read the same way when the config names a store (unless `--local`).
 *
 * @module
 */

import type { StoreConfig } from "../config/mod.ts";
import type { Receipt } from "../core/mod.ts";
import type { GatewayReceipt, Sql, StoreReceiptFilter } from "../store/mod.ts";
import { out } from "./_io.ts";
import { UsageError } from "./_args.ts";

/** How often `log --follow` looks for new receipts in the store. */
const FOLLOW_POLL_MS = 500;

/** Opens the store (the PostgreSQL client loads only here), runs `read`, closes it. */
async function reading<T>(
  settings: StoreConfig,
  read: (sql: Sql, display: string) => Promise<T>,
): Promise<T> {
  const { openStore } = await import("../store/mod.ts");
  const store = await openStore(settings);
  try {
    return await read(store.sql, store.display);
  } finally {
    await store.close();
  }
}

/** What `log` prints from the store, and whether it keeps following. */
export interface AcrossGatewaysLog {
  filter: StoreReceiptFilter;
  print: (found: GatewayReceipt) => void;
  /** Set: poll for new receipts of every gateway until it answers true. */
  until?: () => boolean;
}

/** `clawpatrol log` with a store: the newest receipts of every gateway, then (following) more. */
export async function logAcrossGateways(
  settings: StoreConfig,
  { filter, print, until }: AcrossGatewaysLog,
): Promise<number> {
  const { storeReceipts } = await import("../store/mod.ts");
  return await reading(settings, async (sql) => {
    // Each chain's end before the first read: following goes on from there (or from what that
    // read showed past it), so nothing committed meanwhile is skipped or shown twice.
    const after: Record<string, number> = {};
    if (until !== undefined) {
      for (
        const g of await sql`SELECT gateway, max(seq)::int AS seq FROM clawpatrol_receipts
          GROUP BY gateway`
      ) after[g.gateway] = g.seq;
    }
    const show = (found: GatewayReceipt[]) => {
      for (const f of found) {
        print(f);
        after[f.gateway] = Math.max(after[f.gateway] ?? 0, f.seq);
      }
    };
    show(await storeReceipts(sql, filter));
    if (until === undefined) return 0;
    while (!until()) {
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
      show(await storeReceipts(sql, { ...filter, after: { ...after }, limit: 1000 }));
    }
    return 0;
  });
}

/** `clawpatrol report` with a store: every gateway's receipts since `since` (all without). */
export async function receiptsAcrossGateways(
  settings: StoreConfig,
  since: Date | undefined,
): Promise<GatewayReceipt[]> {
  const { storeReceipts } = await import("../store/mod.ts");
  return await reading(settings, (sql) => storeReceipts(sql, { since, limit: null }));
}

/** What `store log` narrows by. */
export interface StoreLogOptions {
  json: boolean;
  limit?: string;
  gateway?: string;
  agent?: string;
  verdict?: string;
}

/** Prints the newest receipts of every gateway (or one), oldest first. */
export async function storeLog(settings: StoreConfig, options: StoreLogOptions): Promise<number> {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new UsageError(`--limit must be a whole number of at least 1, got '${options.limit}'`);
  }
  if (options.verdict !== undefined && options.verdict !== "allow" && options.verdict !== "deny") {
    throw new UsageError(`--verdict must be allow or deny, got '${options.verdict}'`);
  }
  const { openStore, storeReceipts } = await import("../store/mod.ts");
  const store = await openStore(settings);
  try {
    const receipts = await storeReceipts(store.sql, {
      limit,
      gateway: options.gateway,
      agent: options.agent,
      verdict: options.verdict as "allow" | "deny" | undefined,
    });
    for (const { gateway, receipt } of receipts) {
      out(options.json ? jsonLine(gateway, receipt) : textLine(gateway, receipt));
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** Checks every gateway's chain in the store; exit 1 naming the first problem of each. */
export async function storeVerify(settings: StoreConfig): Promise<number> {
  const { openStore, verifyStoreChains } = await import("../store/mod.ts");
  const store = await openStore(settings);
  try {
    const chains = await verifyStoreChains(store.sql);
    for (const c of chains) {
      const span = c.from > 1 ? ` (from seq ${c.from}: older ones were pruned)` : "";
      out(
        c.problem === null
          ? `${c.gateway}: ok: ${c.rows} receipts, ${c.outcomes} outcomes, hash chains intact${span}`
          : `${c.gateway}: BROKEN after ${
            c.problem.startsWith("outcome")
              ? `${c.outcomes} good outcomes`
              : `${c.rows} good receipts`
          }: ${c.problem}`,
      );
    }
    if (chains.length === 0) out(`${store.display}: no receipts yet`);
    return chains.every((c) => c.problem === null) ? 0 : 1;
  } finally {
    await store.close();
  }
}

function textLine(gateway: string, r: Receipt): string {
  const reason = JSON.stringify(r.reason);
  return `${r.time.toISOString()} ${r.verdict.padEnd(5)} ${r.agent ?? "-"} ${r.endpoint ?? "-"} ${
    r.rule ?? "-"
  } ${JSON.stringify(r.summary)} reason=${reason} ${r.id} ${gateway}`;
}

function jsonLine(gateway: string, r: Receipt): string {
  // Facts may hold BigInts (CEL integers): written as strings.
  return JSON.stringify(
    { gateway, ...r },
    (_k, v) => typeof v === "bigint" ? v.toString() : v,
  );
}
