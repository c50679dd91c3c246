/**
 * Redaction of facts before they reach a receipt or a log line.
 *
 * @module
 */

import type { Facts } from "../core/mod.ts";

/** Headers whose values are credentials, whatever the endpoint. */
const SECRET_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "x-auth-token",
  "private-token",
]);

/** Marker stored in place of a secret value. */
export const REDACTED = "[redacted]";

/**
 * Returns a copy of `facts` safe to store: credential-bearing header values are replaced with
 * {@linkcode REDACTED} (the scheme word of `Authorization` is kept, e.g. `Bearer [redacted]`).
 *
 * @example
 * ```ts
 * redactFacts({ http }).http!.headers.authorization; // ["Bearer [redacted]"]
 * ```
 */
export function redactFacts(facts: Facts): Facts {
  if (!facts.http) return facts;
  const headers: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(facts.http.headers)) {
    headers[name] = SECRET_HEADERS.has(name) ? values.map(redactValue) : values;
  }
  return { ...facts, http: { ...facts.http, headers } };
}

function redactValue(value: string): string {
  const scheme = /^(Bearer|Basic|Token|Digest)\s+/i.exec(value);
  return scheme ? `${scheme[1]} ${REDACTED}` : REDACTED;
}
