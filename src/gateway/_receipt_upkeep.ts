/**
 * What keeps the local receipts fit for operations while the gateway runs: retention (pruning
 * past `keep`) and anchoring (signed heads of the chains). Both work beside the hot path.
 *
 * @module
 */

import type { ReceiptStore } from "../audit/mod.ts";
import type { Config } from "../config/mod.ts";
import type { Vault } from "../credentials/mod.ts";
import { Anchoring } from "./_anchoring.ts";
import type { Logger } from "./log.ts";
import { Retention } from "./_retention.ts";

/** Retention and anchoring of `receipts`. */
export class ReceiptUpkeep {
  readonly retention: Retention;
  readonly anchoring: Anchoring;

  /** Throws when the config's anchoring cannot be honoured (see {@linkcode Anchoring}). */
  constructor(
    receipts: ReceiptStore,
    stateDir: string,
    vault: Vault,
    config: () => Config,
    log: Logger,
  ) {
    this.retention = new Retention((cutoff) => receipts.prune(cutoff), config, log);
    this.anchoring = new Anchoring(receipts.path, stateDir, vault, config, log);
  }

  /** Starts both. */
  start(): void {
    this.retention.start();
    this.anchoring.start();
  }

  /** Before the receipts close: no pruning may race the last writes. */
  async stopPruning(): Promise<void> {
    await this.retention.stop();
  }

  /** Once the receipts are closed: the last anchor covers the last receipt. */
  async stopAnchoring(): Promise<void> {
    await this.anchoring.stop();
  }
}
