/**
 * What enrolling and rotating make of a record, whichever backend keeps it: the name and profile
 * checks, a fresh token, its SHA-256 and its SCRAM verifier. The token leaves only as the return
 * value, shown once to the operator.
 *
 * @module
 */

import type { AgentRecord } from "./_record.ts";
import { isAgentName, newToken, sha256 } from "./_token.ts";
import { scramVerifier } from "./_scram.ts";

/**
 * A new agent's record and its token; throws a `TypeError` for an invalid name or profile.
 *
 * @example
 * ```ts
 * const { record, token } = enrolment("oncall-bot", "default", new Date());
 * ```
 */
export function enrolment(
  name: string,
  profile: string,
  now: Date,
): { record: AgentRecord; token: string } {
  if (!isAgentName(name)) {
    throw new TypeError(
      `Invalid agent name '${name}': use 1 to 63 lowercase letters, digits, '.', '_' or '-', ` +
        `starting with a letter or digit`,
    );
  }
  if (typeof profile !== "string" || profile === "") {
    throw new TypeError("Invalid profile: expected a non-empty profile name");
  }
  const token = newToken();
  const record: AgentRecord = {
    name,
    profile,
    tokenSha256: sha256(token).toString("hex"),
    scramSha256: scramVerifier(token),
    createdAt: now.toISOString(),
    rotatedAt: null,
    revokedAt: null,
  };
  return { record, token };
}

/** A fresh token and the digests that stand for it, for `rotate`. */
export function newCredentials(): { token: string; tokenSha256: string; scramSha256: string } {
  const token = newToken();
  return { token, tokenSha256: sha256(token).toString("hex"), scramSha256: scramVerifier(token) };
}

/** Why `name` cannot be enrolled: it exists, or existed (names are never reused). */
export function nameTaken(name: string, revoked: boolean): Error {
  return new Error(
    revoked
      ? `Agent '${name}' already existed and was revoked: names are never reused, pick another`
      : `Agent '${name}' already exists`,
  );
}

/** Why `name` cannot be revoked or rotated: unknown, or revoked already. */
export function notActive(name: string, revokedAt: string | null): Error {
  return revokedAt === null
    ? new Error(`Unknown agent '${name}'`)
    : new Error(`Agent '${name}' is revoked (since ${revokedAt})`);
}
