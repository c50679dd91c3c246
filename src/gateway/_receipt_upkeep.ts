/**
 * What keeps the local receipts fit for operations while the gateway runs: retention (pruning
 * past `keep`), anchoring (signed heads of the chains) and export (shipping them elsewhere). All
 * work beside the hot path.
 *
 * @module
 */

import type { Metrics } from "../admin/mod.ts";
import type { ReceiptStore } from "../audit/mod.ts";
import type { Config } from "../config/mod.ts";
import type { Vault } from "../credentials/mod.ts";
import { Anchoring } from "./_anchoring.ts";
import type { Logger } from "./log.ts";
import { Retention } from "./_retention.ts";
import { ReceiptExport } from "./_export.ts";

/** What {@linkcode ReceiptUpkeep} works on. */
export interface ReceiptUpkeepParts {
  receipts: ReceiptStore;
  stateDir: string;
  vault: Vault;
  config: () => Config;
  log: Logger;
  metrics: Metrics;
}

/** Retention and anchoring of `receipts`. */
export class ReceiptUpkeep {
  readonly retention: Retention;
  readonly anchoring: Anchoring;
  readonly export: ReceiptExport;

  /** Throws when the config's anchoring cannot be honoured (see {@linkcode Anchoring}). */
  constructor({ receipts, stateDir, vault, config, log, metrics }: ReceiptUpkeepParts) {
    this.retention = new Retention((cutoff) => receipts.prune(cutoff), config, log);
    this.anchoring = new Anchoring(receipts.path, stateDir, vault, config, log);
    this.export = new ReceiptExport(receipts.path, stateDir, config, log, metrics);
  }

  /** Starts all three. */
  start(): void {
    this.retention.start();
    this.anchoring.start();
    this.export.start();
  }

  /** Before the receipts close: no pruning may race the last writes. */
  async stopPruning(): Promise<void> {
    await this.retention.stop();
  }

  /** Once the receipts are closed: the last anchor covers, and the export ships, the last one. */
  async stopAnchoring(): Promise<void> {
    await Promise.all([this.anchoring.stop(), this.export.stop()]);
  }
}
