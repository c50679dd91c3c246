/**
 * `vault set`, `vault rm` and `vault list` with `gateway.store_vault`: this host's vault is merged
 * with the store's before (so a change lands on the shared values, and a list shows them) and
 * after a change (so every gateway has it within a second, without waiting for this host's own).
 *
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../core/mod.ts";
import { VAULT_FILE, VaultKeyMismatchError } from "../credentials/mod.ts";
import { mergeStoreVault } from "../gateway/mod.ts";
import { err } from "./_io.ts";
import { unlockOptions, type VaultContext } from "./_vault_context.ts";

/**
 * Merges with the store when the config keeps the vault there; nothing otherwise. A store that
 * does not answer is a warning (this host's vault still works, and a gateway serving here merges
 * its change once the store is back); a key that cannot open the store's vault is an error.
 */
export async function mergeWithStore(ctx: VaultContext): Promise<void> {
  const settings = ctx.config.gateway.store;
  if (!settings?.vault || !(await pathExists(join(ctx.stateDir, VAULT_FILE)))) return;
  try {
    // Loaded here: without a store the CLI never loads the PostgreSQL client.
    const { openStore } = await import("../store/mod.ts");
    const store = await openStore(settings);
    try {
      await mergeStoreVault(store.sql, ctx.stateDir, { join: true, vault: unlockOptions(ctx) });
    } finally {
      await store.close();
    }
  } catch (e) {
    if (e instanceof VaultKeyMismatchError) throw e;
    err(`Warning: this host's vault is not merged with the store's: ${(e as Error).message}`);
  }
}
