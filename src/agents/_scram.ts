/**
 * SCRAM-SHA-256 verifiers for agent tokens, so the PostgreSQL gateway can run SCRAM with agents
 * without ever holding their tokens (RFC 5802 §3: StoredKey and ServerKey, never the password).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import type { AgentFacts } from "../core/mod.ts";
import type { AgentRecord } from "./_record.ts";

/**
 * One salt for every agent. The server-first-message (which carries the salt) is sent before
 * the agent is known: PostgreSQL agents present only their token, so the gateway finds the agent
 * by trying each verifier against the proof. A salt guards low-entropy passwords against
 * precomputation; agent tokens carry 256 random bits, so a shared salt costs nothing.
 */
export const SCRAM_SALT: Uint8Array = new TextEncoder().encode("clawpatrol-agent-token-v1");
/** RFC 7677 §4's minimum; with 256-bit tokens more iterations add nothing. */
export const SCRAM_ITERATIONS = 4096;

const PATTERN = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/** The keys of one verifier. */
export interface ScramKeys {
  iterations: number;
  salt: Uint8Array;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

/**
 * The verifier of `token`, in PostgreSQL's `pg_authid` format
 * (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64).
 */
export function scramVerifier(token: string): string {
  // Agent tokens are ASCII, which SASLprep leaves untouched (as PostgreSQL does).
  const salted = pbkdf2Sync(token, SCRAM_SALT, SCRAM_ITERATIONS, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${b64(SCRAM_SALT)}$${b64(storedKey)}:${b64(serverKey)}`;
}

/** The keys of a stored verifier; `null` when it is not one. */
export function parseScramVerifier(text: string): ScramKeys | null {
  const m = PATTERN.exec(text);
  if (!m) return null;
  const [storedKey, serverKey] = [m[3], m[4]].map((s) => new Uint8Array(Buffer.from(s, "base64")));
  if (storedKey.length !== 32 || serverKey.length !== 32) return null;
  return {
    iterations: Number(m[1]),
    salt: new Uint8Array(Buffer.from(m[2], "base64")),
    storedKey,
    serverKey,
  };
}

/**
 * What a SCRAM server needs to authenticate agents by token: one salt and iteration count, and
 * the StoredKey and ServerKey of every active agent.
 */
export interface AgentScramVerifiers {
  salt: Uint8Array;
  iterations: number;
  keys: { agent: AgentFacts; storedKey: Uint8Array; serverKey: Uint8Array }[];
}

/** The verifiers of the `active` agents; `null` when one has none usable. */
export function scramVerifiersOf(active: AgentRecord[]): AgentScramVerifiers | null {
  const keys: AgentScramVerifiers["keys"] = [];
  const salt = Buffer.from(SCRAM_SALT);
  for (const record of active) {
    const parsed = parseScramVerifier(record.scramSha256 ?? "");
    // A verifier made with other parameters cannot share the one server-first-message.
    if (!parsed || parsed.iterations !== SCRAM_ITERATIONS || !salt.equals(parsed.salt)) return null;
    const agent = { name: record.name, profile: record.profile };
    keys.push({ agent, storedKey: parsed.storedKey, serverKey: parsed.serverKey });
  }
  return { salt: SCRAM_SALT, iterations: SCRAM_ITERATIONS, keys };
}
