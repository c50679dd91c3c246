/**
 * `vault set`, `vault rm` and `vault list` with `gateway.store_vault`: this host's vault is merged
 * with the store's before (so a change lands on the shared values, and a list shows them) and
 * after a change (so every gateway has it within a second, without waiting for this host's own).
 *
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../core/mod.ts";
import { VAULT_FILE } from "../credentials/mod.ts";
import { mergeStoreVault } from "../gateway/mod.ts";
import { unlockOptions, type VaultContext } from "./_vault_context.ts";

/** Merges with the store when the config keeps the vault there; nothing otherwise. */
export async function mergeWithStore(ctx: VaultContext): Promise<void> {
  const settings = ctx.config.gateway.store;
  if (!settings?.vault || !(await pathExists(join(ctx.stateDir, VAULT_FILE)))) return;
  // Loaded here: without a store the CLI never loads the PostgreSQL client.
  const { openStore } = await import("../store/mod.ts");
  const store = await openStore(settings);
  try {
    await mergeStoreVault(store.sql, ctx.stateDir, { join: true, vault: unlockOptions(ctx) });
  } finally {
    await store.close();
  }
}
