/**
 * The shared state backend (DESIGN.md §10): with `gateway { store = "postgres://…" }`, enrolled
 * agents live in PostgreSQL and every gateway using that store sees the same ones. Without it the
 * embedded default (files and SQLite in `state_dir`) is untouched.
 *
 * @example
 * ```ts
 * import { openStore, SharedAgents } from "./src/store/mod.ts";
 *
 * const store = await openStore(config.gateway.store!);
 * const agents = await SharedAgents.open(store.sql, store.display);
 * ```
 *
 * @module
 */

export { STORE_PASSWORD_ENV } from "./_connect.ts";
export type { Query, Sql } from "./_connect.ts";
export { SharedAgents, type SharedAgentsOptions } from "./agents.ts";
export { SharedApprovals, type SharedApprovalsOptions } from "./approvals.ts";
export {
  GatewayIdInUseError,
  GatewayLease,
  type GatewayLeaseOptions,
  type LeaseHolder,
} from "./_lease.ts";
export { SharedVerdicts, type SharedVerdictsOptions, type StoredVerdict } from "./_verdicts.ts";
export {
  type GatewayReceipt,
  ReceiptMirror,
  type ReceiptMirrorOptions,
  type StoreChainVerification,
  type StoreReceiptFilter,
  storeReceipts,
  verifyStoreChains,
} from "./receipts.ts";
export {
  type Migration,
  type MigrationResult,
  MIGRATIONS,
  SCHEMA_VERSION,
  StoreSchemaError,
} from "./migrations.ts";
export { openStore, type Store, type StoreStatus, storeStatus } from "./store.ts";
export {
  putSecrets,
  putVaultRoot,
  readStoreVault,
  type RemovedSecret,
  removeSecrets,
  type StoredSecret,
  type StoreVault,
  withVaultLock,
} from "./vault.ts";
