/**
 * Agent names and tokens: what a valid name is, how tokens are minted and hashed. Only a
 * token's SHA-256 is ever stored.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { createHash, hash } from "node:crypto";
import { AGENT_NAME_PATTERN } from "./_file.ts";

/** Prefix of every agent token, so a leaked one is recognisable (secret scanners, logs). */
export const TOKEN_PREFIX = "cpat_";

/** Tokens longer than this are refused before hashing: real ones are 48 characters. */
export const MAX_TOKEN_LENGTH = 512;

/**
 * Whether `name` is a valid agent name: 1 to 63 of `a-z 0-9 . _ -`, starting with a letter or
 * digit. Names travel in HTTP Basic auth as `NAME:TOKEN`, hence no `:` and no uppercase.
 *
 * @example
 * ```ts
 * isAgentName("oncall-bot"); // true
 * isAgentName("Bot:1"); // false
 * ```
 */
export function isAgentName(name: string): boolean {
  return typeof name === "string" && AGENT_NAME_PATTERN.test(name);
}

/** The SHA-256 of `token`, as stored in the agents file (hex) and compared (bytes). */
export function sha256(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** The SHA-256 of `token` in hex, as the agents file stores it: one call into the runtime. */
export function sha256Hex(token: string): string {
  return hash("sha256", token, "hex");
}

/** 256 random bits, `cpat_` + base64url without padding. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const b64 = btoa(String.fromCharCode(...bytes));
  return TOKEN_PREFIX + b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
