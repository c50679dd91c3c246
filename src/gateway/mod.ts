/**
 * Gateway composition root.
 *
 * @module
 */

export { Gateway, type GatewayOptions } from "./gateway.ts";
export { commandName } from "./command_name.ts";
export { loadAndCompile } from "./_loaded.ts";
export { type AgentAdmin, type AgentDirectory, openAgentDirectory } from "./_shared_state.ts";
export { splitHostPort } from "./_listeners.ts";
export { listenedPort } from "./_interception.ts";
export { type Logger, type LogLevel, MemoryLogger } from "./log.ts";
export {
  checkStateDir,
  configDirOf,
  createState,
  MASTER_KEY_FILE,
  RECEIPTS_FILE,
  stateDirOf,
} from "./state.ts";
export {
  APP_DIR,
  APP_ENV,
  CA_BUNDLE_DIRS,
  checkGrant,
  type Grant,
  type GrantCheck,
  type GrantContext,
  grantFlags,
  serveGrant,
  storeGrant,
} from "./grant.ts";
export { anchorKey, rotateAnchorKey, trustedAnchorKeys } from "./_anchoring.ts";
export { mergeStoreVault, type VaultMerge } from "./_store_vault.ts";
