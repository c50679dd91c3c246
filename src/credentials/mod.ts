/**
 * Credentials: redaction now; the vault and placeholder injection arrive with issue 4.
 *
 * @module
 */

export { REDACTED, redactFacts } from "./redact.ts";
