/**
 * Keeps credentials out of a deny detail: an evaluation error can quote the fact it choked on.
 *
 * @module
 */

import type { Facts } from "../core/mod.ts";
import { REDACTED } from "../credentials/mod.ts";

/** Replaces in `text` every header value that redaction hid (and its part after the scheme). */
export function scrubDetail(text: string, raw: Facts, redacted: Facts): string {
  const safe = redacted.http?.headers ?? {};
  const secrets: string[] = [];
  for (const [name, values] of Object.entries(raw.http?.headers ?? {})) {
    values.forEach((value, i) => {
      if (safe[name]?.[i] === value) return;
      secrets.push(value, value.replace(/^\S+\s+/, ""));
    });
  }
  // Longest first, so a token inside a longer value is not left half-replaced.
  for (const secret of secrets.filter(Boolean).sort((a, b) => b.length - a.length)) {
    text = text.replaceAll(secret, REDACTED);
  }
  return text;
}
