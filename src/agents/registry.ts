/**
 * The agent registry: enrolled agents, their profiles and the SHA-256 of their tokens, kept in
 * `state_dir/agents.json` (or, with `gateway.store`, read from a snapshot of the shared store).
 * The CLI mutates it; the gateway authenticates against it and picks up the CLI's changes without
 * a restart.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import type { AgentFacts } from "../core/mod.ts";
import type { AgentRecord, AgentRegistryOptions, AgentStanding } from "./_record.ts";
import { MAX_TOKEN_LENGTH, sha256, sha256Hex } from "./_token.ts";
import { type AgentScramVerifiers, scramVerifiersOf } from "./_scram.ts";
import { AgentFileSource, type AgentSource } from "./_source.ts";
import { enrolment, nameTaken, newCredentials, notActive } from "./_enrol.ts";

export type { AgentScramVerifiers } from "./_scram.ts";
export type { AgentRecord, AgentRegistryOptions, AgentStanding } from "./_record.ts";
export type { AgentSource } from "./_source.ts";
export { isAgentName, TOKEN_PREFIX } from "./_token.ts";

/** File name of the agent registry inside the state directory (JSON, mode 0600). */
export const AGENTS_FILE = "agents.json";

/** Compared against when the name is unknown, so both paths do the same work. */
const DUMMY_HASH = new Uint8Array(32);

interface Entry {
  record: AgentRecord;
  hash: Uint8Array;
  /** The facts handed out for this entry, made on first use: one object per agent per load. */
  facts?: AgentFacts;
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
  /** The agents file this registry reads and writes, or the shared store's URL. */
  readonly path: string;
  readonly #source: AgentSource;
  /** Only the file can be changed through the registry; a shared store has its own writer. */
  readonly #file: AgentFileSource | null;
  readonly #onError: (error: Error) => void;
  readonly #now: () => Date;
  readonly #refreshIntervalMs: number;
  #entries = new Map<string, Entry>();
  /** Active agents by token digest (hex), for protocols that carry only a token (PostgreSQL). */
  #byDigest = new Map<string, Entry>();
  #scram: AgentScramVerifiers | null = null;
  #signature = "missing";
  #checkedAt = 0;
  /**
   * The token digest behind every AgentFacts handed out, so `standing()` can tell a session
   * opened with a token that was rotated since. Weak: a session's facts live as long as it.
   */
  readonly #issued = new WeakMap<AgentFacts, string>();
  /** The entries (one map per load) every AgentFacts from `authenticate()` was handed out under. */
  readonly #issuedUnder = new WeakMap<AgentFacts, Map<string, Entry>>();
  readonly #watchers = new Set<() => void>();

  private constructor(source: AgentSource, options: AgentRegistryOptions) {
    this.#source = source;
    this.#file = source instanceof AgentFileSource ? source : null;
    this.path = source.where;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? (() => new Date());
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 100;
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
    const file = new AgentFileSource(join(stateDir, AGENTS_FILE), options.lockStaleMs ?? 10_000);
    return AgentRegistry.over(file, options);
  }

  /**
   * A registry reading `source` (a shared store's snapshot). Its `add`, `revoke` and `rotate`
   * throw unless the source is the agents file: a store changes its agents itself.
   *
   * @example
   * ```ts
   * const registry = AgentRegistry.over(sharedAgents, { onError: (e) => console.error(e.message) });
   * ```
   */
  static over(source: AgentSource, options: AgentRegistryOptions = {}): AgentRegistry {
    const registry = new AgentRegistry(source, options);
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
      return this.#facts(entry);
    } catch (err) {
      this.#report(err);
      return null;
    }
  }

  /**
   * `authenticate(name, token)` again for a connection that authenticated as `agent` with that
   * pair: `agent` itself while the agents are as they were when it was handed out (no second hash
   * per request on a kept-alive tunnel); after any change, a full `authenticate`. Never throws.
   *
   * @example
   * ```ts
   * const still = registry.reauthenticate(tunnel.agent, name, token); // null: revoked or rotated
   * ```
   */
  reauthenticate(agent: AgentFacts, name: string, token: string): AgentFacts | null {
    this.#maybeReload();
    if (this.#issuedUnder.get(agent) === this.#entries && agent.name === name) return agent;
    return this.authenticate(name, token);
  }

  /**
   * The agent whose token this is, when it is active; `null` otherwise. Never throws. For
   * protocols where the token is the only credential (a PostgreSQL password): the token carries
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
      const entry = this.#byDigest.get(sha256Hex(token));
      if (!entry || entry.record.revokedAt !== null) return null;
      return this.#facts(entry);
    } catch (err) {
      this.#report(err);
      return null;
    }
  }

  /**
   * `authenticateToken(token)` again for a connection that authenticated as `agent` with that
   * token, as {@linkcode reauthenticate} is `authenticate` again (a Kubernetes client sends its
   * bearer token on every request). Never throws.
   */
  reauthenticateToken(agent: AgentFacts, token: string): AgentFacts | null {
    this.#maybeReload();
    if (this.#issuedUnder.get(agent) === this.#entries) return agent;
    return this.authenticateToken(token);
  }

  /**
   * The active agent named `name`, for identities that carry no token (a source address): its
   * facts are judged by name only, so a rotation does not end what it opened. Never throws.
   */
  active(name: string): AgentFacts | null {
    this.#maybeReload();
    const record = this.#entries.get(name)?.record;
    return record && record.revokedAt === null ? { name, profile: record.profile } : null;
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
   * Whether `agent` (facts this registry handed out when the agent authenticated) may keep the
   * sessions it opened: its token is neither revoked nor rotated since. Facts that did not come
   * from this registry are judged by name only (revoked or not).
   *
   * @example
   * ```ts
   * if (registry.standing(session.agent) !== "active") session.end();
   * ```
   */
  standing(agent: AgentFacts): AgentStanding {
    this.#maybeReload();
    const entry = this.#entries.get(agent.name);
    if (!entry || entry.record.revokedAt !== null) return "revoked";
    const issued = this.#issued.get(agent);
    return issued === undefined || issued === entry.record.tokenSha256 ? "active" : "rotated";
  }

  /**
   * Calls `onChange` (in a microtask) whenever the agents change, whoever changed them: the file
   * is checked every `intervalMs`, so another process's `revoke` or `rotate` is seen within that
   * time. Returns the function that stops watching.
   *
   * @example
   * ```ts
   * const stop = registry.watch(() => endRevokedSessions());
   * stop();
   * ```
   */
  watch(onChange: () => void, intervalMs = 200): () => void {
    this.#watchers.add(onChange);
    const timer = setInterval(() => {
      this.#checkedAt = 0;
      this.#maybeReload();
    }, intervalMs);
    // A watch alone never keeps the process alive.
    Deno.unrefTimer(timer);
    return () => {
      clearInterval(timer);
      this.#watchers.delete(onChange);
    };
  }

  /**
   * Re-reads the file now, whatever the refresh interval. A file that no longer parses keeps
   * the previous contents and is reported through `onError`.
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
    const { record, token } = enrolment(name, profile, this.#now());
    this.#mutate((records) => {
      const existing = records.find((r) => r.name === name);
      if (existing) throw nameTaken(name, existing.revokedAt !== null);
      records.push(record);
    });
    return token;
  }

  /**
   * Revokes `name`: its token stops working. Throws if unknown or already revoked.
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
   */
  rotate(name: string): string {
    const { token, tokenSha256, scramSha256 } = newCredentials();
    this.#mutate((records) => {
      const record = this.#active(records, name);
      Object.assign(record, { tokenSha256, scramSha256, rotatedAt: this.#now().toISOString() });
    });
    return token;
  }

  #active(records: AgentRecord[], name: string): AgentRecord {
    const record = records.find((r) => r.name === name);
    if (!record || record.revokedAt !== null) throw notActive(name, record?.revokedAt ?? null);
    return record;
  }

  #mutate(change: (records: AgentRecord[]) => void): void {
    if (this.#file === null) {
      throw new TypeError(`Agents live in the store ${this.path}: change them through it`);
    }
    this.#install(...this.#file.mutate(change));
  }

  #maybeReload(): void {
    const now = performance.now();
    if (now - this.#checkedAt < this.#refreshIntervalMs) return;
    this.#checkedAt = now;
    try {
      if (this.#source.signature() !== this.#signature) this.#load();
    } catch (err) {
      this.#report(err);
    }
  }

  #load(): void {
    this.#checkedAt = performance.now();
    const signature = this.#source.signature();
    try {
      this.#install(this.#source.read(), signature);
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
    // A SCRAM login yields the verifier's own facts: they stand for the token it was made from.
    for (const key of this.#scram?.keys ?? []) {
      this.#issued.set(key.agent, entries.get(key.agent.name)!.record.tokenSha256);
    }
    this.#signature = signature;
    // Later: a watcher may end sessions, which must not happen inside authenticate().
    if (this.#watchers.size > 0) queueMicrotask(() => this.#changed());
  }

  #changed(): void {
    for (const onChange of this.#watchers) {
      try {
        onChange();
      } catch (err) {
        this.#report(err);
      }
    }
  }

  /**
   * The facts for `entry`: the same frozen object every time within one load of the agents, so
   * authenticating each request of a kept-alive connection (a Kubernetes bearer token) adds no
   * object and no weak-map entry. A load makes new entries, so a change yields new facts.
   */
  #facts(entry: Entry): AgentFacts {
    if (entry.facts !== undefined) return entry.facts;
    const facts = Object.freeze({ name: entry.record.name, profile: entry.record.profile });
    this.#issued.set(facts, entry.record.tokenSha256);
    this.#issuedUnder.set(facts, this.#entries);
    entry.facts = facts;
    return facts;
  }

  #report(err: unknown): void {
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // A throwing error handler must not turn authenticate() into a throwing call.
    }
  }
}
