/**
 * Opening what a gateway keeps in its state directory: the vault, the gateway CA, the agent
 * registry and the receipt store. Whatever fails closes what was opened before it.
 *
 * @module
 */

import { join } from "node:path";
import type { Logger, Protocol } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import { queryReceipts, ReceiptStore, SCHEMA_VERSION } from "../audit/mod.ts";
import { ReceiptFeed } from "../dashboard/mod.ts";
import { openVault, type OpenVaultOptions, type Vault } from "../credentials/mod.ts";
import { type AgentRegistry, SourceRegistry } from "../agents/mod.ts";
import { openGatewayCa, RECEIPTS_FILE } from "./state.ts";
import { openAgentRegistry, openSharedState, type SharedState } from "./_shared_state.ts";
import { joinStoreVault } from "./_store_vault.ts";

/** What {@linkcode openState} needs besides the directory. */
export interface OpenStateOptions {
  config: Config;
  protocols: readonly Protocol[];
  log: Logger;
  /** How to unlock the vault. */
  vault: OpenVaultOptions;
}

/** The state a running gateway holds open. */
export interface OpenedState {
  vault: Vault;
  ca: Awaited<ReturnType<typeof openGatewayCa>>;
  agents: AgentRegistry;
  /** With `gateway.store`: the shared store the agents come from. */
  shared: SharedState | null;
  /** Which agent a source address stands for (transparent interception). */
  sources: SourceRegistry;
  receipts: ReceiptStore;
  /** New receipts for the dashboard's live feed, told of each committed batch. */
  feed: ReceiptFeed;
}

/**
 * Opens the shared store (with `gateway.store`), the vault (creating one keyed by an existing
 * master.key for a state directory from before the vault; with `store_vault`, merged with the
 * store's first), the CA, the agents and the receipts.
 *
 * @example
 * ```ts
 * const { vault, ca, agents, receipts } = await openState(stateDir, { config, protocols, log, vault: {} });
 * ```
 */
export async function openState(stateDir: string, options: OpenStateOptions): Promise<OpenedState> {
  const { config, protocols, log } = options;
  let shared = await openSharedState(config, stateDir, log);
  let vault: Vault | undefined, ca;
  try {
    // Before the vault opens: joining the store's vault may replace its root and the CA.
    const replica = await joinStoreVault(config, stateDir, shared?.store.sql, options.vault, log);
    vault = await openVault(stateDir, { ...options.vault, create: true });
    ca = await openGatewayCa(stateDir, vault);
    if (shared && replica) {
      replica.start();
      const close = shared.close;
      shared = { ...shared, close: () => replica.stop().finally(close) };
    }
  } catch (err) {
    vault?.close();
    await shared?.close();
    throw err;
  }
  const agents = openAgentRegistry(stateDir, shared, log);
  const sources = SourceRegistry.open(stateDir, {
    onError: (err) => log.log("error", `sources: ${err.message}`),
  });
  const receipts = ReceiptStore.open(join(stateDir, RECEIPTS_FILE), {
    // The gateway's own: its DNS responder, and connections to virtual IPs it cannot attribute.
    protocols: [...protocols.map((p) => p.family), "dns", "transparent"],
    maxQueue: config.gateway.limits.receiptQueue,
    commitIntervalMs: config.gateway.limits.receiptCommitIntervalMs,
    onError: (err) => log.log("error", `receipt store: ${err.message}`),
    // One line when the store starts refusing (every action is denied meanwhile), one when
    // it recovers; each failed retry in between is an onError line.
    onHealth: (problem) =>
      problem === null
        ? log.log("info", "receipts are being written again: actions are decided again")
        : log.log("error", `denying every action: ${problem}`),
    // Rewriting an older file can take minutes; the gateway serves nothing meanwhile.
    onMigration: ({ from, done, total }) =>
      log.log(
        "info",
        done === 0 && total > 0
          ? `receipts: bringing ${total} receipts from schema ${from} to ${SCHEMA_VERSION}, once (~20 s per million); the gateway serves when done`
          : `receipts: ${done} of ${total} receipts brought to schema ${SCHEMA_VERSION}`,
      ),
    // One cheap call per committed batch; the feed reads the rows only while someone watches.
    onFlush: () => feed.notify(),
  });
  // With a store, this gateway's chain is copied there too; the local file stays the record.
  shared?.mirrorReceipts(join(stateDir, RECEIPTS_FILE));
  const feed = new ReceiptFeed((filter) => queryReceipts(receipts, filter));
  return { vault, ca, agents, shared, sources, receipts, feed };
}
