/**
 * The registry's types: one enrolled agent as stored, the registry's options, and what an
 * agent's standing is for the sessions it opened.
 *
 * @module
 */

/** One enrolled agent. The token itself is never stored, only its SHA-256. */
export interface AgentRecord {
  name: string;
  profile: string;
  /** SHA-256 of the token, lowercase hex. */
  tokenSha256: string;
  /**
   * SCRAM-SHA-256 verifier of the token (PostgreSQL's format), for PostgreSQL SCRAM logins.
   * Absent for agents enrolled before the gateway offered SCRAM, until their token is rotated.
   */
  scramSha256?: string;
  /** ISO 8601 times. */
  createdAt: string;
  rotatedAt: string | null;
  revokedAt: string | null;
}

/** Options for {@linkcode AgentRegistry.open}. */
export interface AgentRegistryOptions {
  /**
   * Told about problems found while reloading in the background (a file that no longer parses,
   * an unreadable file); the previous contents stay in force.
   * @default {() => {}}
   */
  onError?: (error: Error) => void;
  /**
   * Clock for the timestamps in records.
   * @default {() => new Date()}
   */
  now?: () => Date;
  /**
   * How often, at most, `authenticate()` and `list()` check the file for changes.
   * @default {100}
   */
  refreshIntervalMs?: number;
  /**
   * A lock file older than this is assumed left by a crashed process and removed.
   * @default {10_000}
   */
  lockStaleMs?: number;
}

/**
 * Whether the token an agent authenticated with still holds, for the sessions it opened with it:
 * `revoked` (or no longer enrolled), `rotated` (the agent now has another token), or `active`.
 */
export type AgentStanding = "active" | "revoked" | "rotated";
