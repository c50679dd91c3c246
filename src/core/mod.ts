/**
 * Shared vocabulary: actions, facts, outcomes, verdicts, receipts and error classes; the byte and
 * file helpers every module uses.
 * Imports nothing from the rest of `src/`.
 *
 * @module
 */

export * from "./action.ts";
export * from "./protocol.ts";
export * from "./errors.ts";
export * from "./receipt.ts";
export * from "./bytes.ts";
export * from "./fs.ts";
export * from "./guard.ts";
export * from "./session.ts";
export * from "./inject.ts";
export * from "./net.ts";
export * from "./approval.ts";
export * from "./body.ts";
export * from "./health.ts";
export * from "./log.ts";
