/**
 * Gateway composition root.
 *
 * @module
 */

export { Gateway, type GatewayOptions, loadAndCompile, splitHostPort } from "./gateway.ts";
export { AUDIT_UNAVAILABLE, Guard, INTERNAL_ERROR } from "./guard.ts";
export { type Logger, type LogLevel, MemoryLogger } from "./log.ts";
export { checkStateDir, createState, MASTER_KEY_FILE, RECEIPTS_FILE, stateDirOf } from "./state.ts";
