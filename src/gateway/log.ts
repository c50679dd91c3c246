/**
 * The operator log, for the gateway's own files: its vocabulary lives in `core/` so the pipeline
 * can log without importing the gateway.
 *
 * @module
 */

export { type Logger, type LogLevel, MemoryLogger } from "../core/mod.ts";
