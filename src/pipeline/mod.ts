/**
 * One action's way through the gateway, a file per arrow: `flow.ts` (the {@linkcode Guard}: one
 * verdict and one receipt per action, whatever happens), `decide.ts` (rules to verdict, fail
 * closed), `approve.ts` (the approval hold), `audit.ts` (the action's receipt) and
 * `durability.ts` (which allowed actions wait for a durable receipt).
 *
 * @module
 */

export { Guard, type GuardOptions } from "./flow.ts";
export { SessionLedger } from "./session.ts";
export { type DecisionObserver, INTERNAL_ERROR } from "./decide.ts";
export { type ApprovalRunner, AWAITING_APPROVAL } from "./approve.ts";
export { AUDIT_UNAVAILABLE, NOT_FORWARDED } from "./audit.ts";
export { provablyReads, type ReceiptDurability, waitsForDurableReceipt } from "./durability.ts";
