/**
 * Receipts: one tamper-evident row per decided action, in `state_dir/receipts.db` (DESIGN.md §6).
 *
 * @example
 * ```ts
 * import { queryReceipts, ReceiptStore, verifyChain } from "./src/audit/mod.ts";
 *
 * const store = ReceiptStore.open("./state/receipts.db");
 * const id = store.record(input); // throws AuditUnavailableError: deny
 * await store.flushed();
 * queryReceipts(store, { verdict: "deny", limit: 20 });
 * verifyChain(store.path); // { ok: true, rows: … }
 * await store.close();
 * ```
 *
 * @module
 */

export { type ReceiptReservation, ReceiptStore, type ReceiptStoreOptions } from "./store.ts";
export { queryReceipts, type ReceiptFilter } from "./query.ts";
export { type ChainVerification, verifyChain } from "./verify.ts";
export { type Checkpoint, checkpointOf, PRUNE_BATCH, pruneBatch, type Pruned } from "./prune.ts";
export { RECEIPT_ID_PATTERN } from "./_id.ts";
export { type MigrationStep, SCHEMA_VERSION } from "./_schema.ts";
export {
  fixturesYaml,
  type FixtureVerdict,
  receiptFixture,
  type ReceiptFixtureOptions,
} from "./fixture.ts";
export {
  type Candidate,
  type RolloutReport,
  rolloutReport,
  type RolloutReportOptions,
  type RuleBucket,
  type RuleHits,
} from "./report.ts";
export { verifyChainInWorker } from "./verify_async.ts";
export { type ParallelVerifyOptions, verifyChainParallel } from "./verify_parallel.ts";
export {
  canonicalOutcome,
  chainHash,
  type ChainRow,
  outcomeHash,
  outcomeOfCanonical,
  type ReceiptFields,
  receiptFields,
  receiptOfRow,
  storedCheckpoint,
  type StoredOutcome,
  storedOutcomesAfter,
  type StoredReceipt,
  storedRowsAfter,
} from "./stored.ts";
export { rolloutReportInWorker } from "./report_async.ts";
export {
  type Anchor,
  type AnchorCheck,
  type AnchorKey,
  anchorText,
  type ChainHeads,
  chainHeads,
  checkAnchors,
  importAnchorKey,
  keyId,
  newAnchorKey,
  parseAnchors,
  signAnchor,
} from "./anchor.ts";
