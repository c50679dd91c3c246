/**
 * The agent registry: enrolled agents, their profiles and the SHA-256 of their tokens, kept in
 * `state_dir/agents.json`. The CLI mutates it; the gateway authenticates against it and picks up
 * the CLI's changes without a restart.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import type { AgentFacts } from "../core/mod.ts";
import { AGENT_NAME_PATTERN, fileSignature, readAgentsFile, writeAgentsFile } from "./_file.ts";
import { withFileLock } from "./_lock.ts";
import { type AgentScramVerifiers, scramVerifier, scramVerifiersOf } from "./_scram.ts";

export type { AgentScramVerifiers } from "./_scram.ts";

/** File name of the agent registry inside the state directory (JSON, mode 0600). */
export const AGENTS_FILE = "agents.json";

/** Prefix of every agent token, so a leaked one is recognisable (secret scanners, logs). */
export const TOKEN_PREFIX = "cpat_";

/** One enrolled agent. The token itself is never stored, only its SHA-256. */
export interface AgentRecord {
  name: string;
  profile: string;
  /** SHA-256 of the token, lowercase hex. */
  tokenSha256: string;
  /**
   * SCRAM-SHA-256 verifier of the token (PostgreSQL's format), for Postgres SCRAM logins.
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

/** Tokens longer than this are refused before hashing: real ones are 48 characters. */
const MAX_TOKEN_LENGTH = 512;

/** Compared against when the name is unknown, so both paths do the same work. */
const DUMMY_HASH = new Uint8Array(32);

interface Entry {
  record: AgentRecord;
  hash: Uint8Array;
}

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

function sha256(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** 256 random bits, `cpat_` + base64url without padding. */
function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const b64 = btoa(String.fromCharCode(...bytes));
  return TOKEN_PREFIX + b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Enrolled agents, backed by `state_dir/agents.json`.
 *
 * Mutations (`add`, `revoke`, `rotate`) take the lock file `agents.json.lock` (created
 * exclusively; a lock older than 10 s is taken over), re-read the file, apply the change and
 * write it atomically, so concurrent CLI invocations never lose each other's changes.
 *
 * @example
 * ```ts
 * const registry = AgentRegistry.open("./state");
 * const token = registry.add("oncall-bot", "default");
 * registry.authenticate("oncall-bot", token); // { name: "oncall-bot", profile: "default" }
 * registry.revoke("oncall-bot");
 * registry.authenticate("oncall-bot", token); // null
 * ```
 */
export class AgentRegistry {
  /** The agents file this registry reads and writes. */
  readonly path: string;
  readonly #onError: (error: Error) => void;
  readonly #now: () => Date;
  readonly #refreshIntervalMs: number;
  readonly #lockStaleMs: number;
  #entries = new Map<string, Entry>();
  /** Active agents by token digest (hex), for protocols that carry only a token (Postgres). */
  #byDigest = new Map<string, Entry>();
  #scram: AgentScramVerifiers | null = null;
  #signature = "missing";
  #checkedAt = 0;

  private constructor(path: string, options: AgentRegistryOptions) {
    this.path = path;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? (() => new Date());
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 100;
    this.#lockStaleMs = options.lockStaleMs ?? 10_000;
  }

  /**
   * Opens (reads) the registry in `stateDir`; a missing file means no agents yet. A file that
   * does not parse throws a `SyntaxError` naming it.
   *
   * @example
   * ```ts
   * const registry = AgentRegistry.open("./state", { onError: (e) => console.error(e.message) });
   * ```
   */
  static open(stateDir: string, options: AgentRegistryOptions = {}): AgentRegistry {
    const registry = new AgentRegistry(join(stateDir, AGENTS_FILE), options);
    registry.#load();
    return registry;
  }

  /**
   * The agent's facts when `name` and `token` match an active (not revoked) agent; `null`
   * otherwise. Never throws. Compares SHA-256 digests in constant time. Sees changes other
   * processes make to the file within `refreshIntervalMs`.
   *
   * @example
   * ```ts
   * const agent = registry.authenticate(user, password);
   * if (agent === null) return new Response(null, { status: 407 });
   * ```
   */
  authenticate(name: string, token: string): AgentFacts | null {
    try {
      this.#maybeReload();
      if (typeof name !== "string" || typeof token !== "string") return null;
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return null;
      const entry = this.#entries.get(name);
      const presented = sha256(token);
      const matches = timingSafeEqual(presented, entry?.hash ?? DUMMY_HASH);
      if (!entry || !matches || entry.record.revokedAt !== null) return null;
      return { name: entry.record.name, profile: entry.record.profile };
    } catch (err) {
      this.#report(err);
      return null;
    }
  }

  /**
   * The agent whose token this is, when it is active; `null` otherwise. Never throws. For
   * protocols where the token is the only credential (a Postgres password): the token carries
   * 256 random bits, so looking its digest up in a map reveals nothing a guesser could use.
   *
   * @example
   * ```ts
   * const agent = registry.authenticateToken(password);
   * ```
   */
  authenticateToken(token: string): AgentFacts | null {
    try {
      this.#maybeReload();
      if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        return null;
      }
      const entry = this.#byDigest.get(sha256(token).toString("hex"));
      if (!entry || entry.record.revokedAt !== null) return null;
      return { name: entry.record.name, profile: entry.record.profile };
    } catch (err) {
      this.#report(err);
      return null;
    }
  }

  /**
   * The SCRAM verifiers of every active agent, or `null` when some active agent has none
   * (enrolled before SCRAM; `rotate` gives it one): SCRAM cannot be offered before the agent is
   * known, so one such agent means cleartext for all.
   *
   * @example
   * ```ts
   * const verifiers = registry.scramVerifiers(); // null: ask for a cleartext password
   * ```
   */
  scramVerifiers(): AgentScramVerifiers | null {
    this.#maybeReload();
    return this.#scram;
  }

  /**
   * Re-reads the file now, whatever the refresh interval. A file that no longer parses keeps
   * the previous contents and is reported through `onError`.
   *
   * @example
   * ```ts
   * registry.refresh();
   * ```
   */
  refresh(): void {
    try {
      this.#load();
    } catch (err) {
      this.#report(err);
    }
  }

  /**
   * Every agent ever enrolled, revoked ones included, in enrolment order (copies).
   *
   * @example
   * ```ts
   * const active = registry.list().filter((a) => a.revokedAt === null);
   * ```
   */
  list(): AgentRecord[] {
    this.#maybeReload();
    return [...this.#entries.values()].map((e) => ({ ...e.record }));
  }

  /**
   * Enrols `name` with `profile` and returns its token: the only time it exists outside the
   * agent. Throws if the name is invalid or was ever used (names are never reused, so receipts
   * keep meaning one agent).
   *
   * @example
   * ```ts
   * const token = registry.add("oncall-bot", "default");
   * ```
   */
  add(name: string, profile: string): string {
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
    this.#mutate((records) => {
      const existing = records.find((r) => r.name === name);
      if (existing) {
        throw new Error(
          existing.revokedAt === null
            ? `Agent '${name}' already exists`
            : `Agent '${name}' already existed and was revoked: names are never reused, pick another`,
        );
      }
      records.push({
        name,
        profile,
        tokenSha256: sha256(token).toString("hex"),
        scramSha256: scramVerifier(token),
        createdAt: this.#now().toISOString(),
        rotatedAt: null,
        revokedAt: null,
      });
    });
    return token;
  }

  /**
   * Revokes `name`: its token stops working. Throws if unknown or already revoked.
   *
   * @example
   * ```ts
   * registry.revoke("oncall-bot");
   * ```
   */
  revoke(name: string): void {
    this.#mutate((records) => {
      const record = this.#active(records, name);
      record.revokedAt = this.#now().toISOString();
    });
  }

  /**
   * Issues a new token for `name` and returns it; the old one stops working. Throws if unknown
   * or revoked.
   *
   * @example
   * ```ts
   * const token = registry.rotate("oncall-bot");
   * ```
   */
  rotate(name: string): string {
    const token = newToken();
    this.#mutate((records) => {
      const record = this.#active(records, name);
      record.tokenSha256 = sha256(token).toString("hex");
      record.scramSha256 = scramVerifier(token);
      record.rotatedAt = this.#now().toISOString();
    });
    return token;
  }

  #active(records: AgentRecord[], name: string): AgentRecord {
    const record = records.find((r) => r.name === name);
    if (!record) throw new Error(`Unknown agent '${name}'`);
    if (record.revokedAt !== null) {
      throw new Error(`Agent '${name}' is revoked (since ${record.revokedAt})`);
    }
    return record;
  }

  /** Read-modify-write under the lock, from the file as it is now (not our possibly stale copy). */
  #mutate(change: (records: AgentRecord[]) => void): void {
    withFileLock(`${this.path}.lock`, () => {
      // A corrupt file throws here: never overwrite what we could not read.
      const records = readAgentsFile(this.path);
      change(records);
      writeAgentsFile(this.path, records);
      this.#install(records, fileSignature(this.path));
    }, { staleMs: this.#lockStaleMs });
  }

  #maybeReload(): void {
    const now = performance.now();
    if (now - this.#checkedAt < this.#refreshIntervalMs) return;
    this.#checkedAt = now;
    try {
      if (fileSignature(this.path) !== this.#signature) this.#load();
    } catch (err) {
      this.#report(err);
    }
  }

  #load(): void {
    this.#checkedAt = performance.now();
    const signature = fileSignature(this.path);
    try {
      this.#install(readAgentsFile(this.path), signature);
    } catch (err) {
      // Remember the broken version so it is reported once, not on every check.
      this.#signature = signature;
      throw err;
    }
  }

  #install(records: AgentRecord[], signature: string): void {
    const entries = new Map<string, Entry>();
    for (const record of records) {
      entries.set(record.name, { record, hash: Buffer.from(record.tokenSha256, "hex") });
    }
    this.#entries = entries;
    this.#byDigest = new Map(
      [...entries.values()].filter((e) => e.record.revokedAt === null).map((e) => [
        e.record.tokenSha256.toLowerCase(),
        e,
      ]),
    );
    this.#scram = scramVerifiersOf([...this.#byDigest.values()].map((e) => e.record));
    this.#signature = signature;
  }

  #report(err: unknown): void {
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // A throwing error handler must not turn authenticate() into a throwing call.
    }
  }
}
