/**
 * `clawpatrol store log` and `store verify`: every gateway's receipts as copied into the shared
 * store, and their hash chains checked from the store alone.
 *
 * @module
 */

import type { StoreConfig } from "../config/mod.ts";
import type { Receipt } from "../core/mod.ts";
import { out } from "./_io.ts";
import { UsageError } from "./_args.ts";

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
      const span = c.from > 1
        ? ` (from seq ${c.from}: older ones were pruned before the copy)`
        : "";
      out(
        c.problem === null
          ? `${c.gateway}: ok: ${c.rows} receipts, hash chain intact${span}`
          : `${c.gateway}: BROKEN after ${c.rows} good receipts: ${c.problem}`,
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
