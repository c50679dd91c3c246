/**
 * Enrolled agents in the shared store: every gateway keeps a snapshot that a `NOTIFY` refreshes
 * at once and a poll refreshes within `pollMs` when a notification was missed, so an `add`,
 * `revoke` or `rotate` through any gateway or CLI holds on all of them within a second. The
 * registry reads the snapshot through {@linkcode AgentSource}, exactly as it reads the file.
 *
 * Fail closed: a snapshot not confirmed by the store for `staleAfterMs` counts as empty (every
 * agent refused, their sessions ended) until the store answers again, since a revoke made
 * elsewhere meanwhile could not be seen.
 *
 * @module
 */

import {
  type AgentRecord,
  type AgentSource,
  enrolment,
  nameTaken,
  newCredentials,
  notActive,
} from "../agents/mod.ts";
import { type Query, settledWithin, type Sql } from "./_connect.ts";

const CHANNEL = "clawpatrol_agents";

/** Options for {@linkcode SharedAgents.open}. */
export interface SharedAgentsOptions {
  /** How often the store is asked whether agents changed (the fallback to NOTIFY). @default {1_000} */
  pollMs?: number;
  /** A snapshot the store has not confirmed for this long refuses every agent. @default {5_000} */
  staleAfterMs?: number;
  /** Told when the store stops answering (a phrase) and when it answers again (`null`). */
  onHealth?: (problem: string | null) => void;
  /** Told about each failed refresh. */
  onError?: (error: Error) => void;
  /** Clock for the timestamps in records. */
  now?: () => Date;
}

/** The agents of a shared store, as a source for `AgentRegistry.over` and their writer. */
export class SharedAgents implements AgentSource {
  readonly where: string;
  readonly #sql: Sql;
  readonly #pollMs: number;
  readonly #staleAfterMs: number;
  readonly #onHealth: (problem: string | null) => void;
  readonly #onError: (error: Error) => void;
  readonly #now: () => Date;
  #records: AgentRecord[] = [];
  #version = "";
  #confirmedAt = -Infinity;
  #problem: string | null = null;
  #refreshing: Promise<void> | null = null;
  #refreshStartedAt = 0;
  #again = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #unlisten: (() => Promise<void>) | null = null;
  #closed = false;

  private constructor(sql: Sql, where: string, options: SharedAgentsOptions) {
    this.#sql = sql;
    this.where = where;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#staleAfterMs = options.staleAfterMs ?? 5_000;
    this.#onHealth = options.onHealth ?? (() => {});
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Reads the agents once (throwing when the store cannot be read), then keeps the snapshot
   * fresh until {@linkcode close}.
   *
   * @example
   * ```ts
   * const agents = await SharedAgents.open(sql, "postgres://cp@db/clawpatrol");
   * const registry = AgentRegistry.over(agents);
   * ```
   */
  static async open(
    sql: Sql,
    where: string,
    options: SharedAgentsOptions = {},
  ): Promise<SharedAgents> {
    const agents = new SharedAgents(sql, where, options);
    await agents.#reload();
    const timer = setInterval(() => agents.#tick(), agents.#pollMs);
    // The gateway's own lifetime keeps it alive, not this poll.
    Deno.unrefTimer(timer);
    agents.#timer = timer;
    try {
      // onlisten runs on every (re)connection of the listening connection: a reload then
      // catches whatever changed while it was down.
      const listening = await sql.listen(CHANNEL, () => agents.#kick(), () => agents.#kick());
      agents.#unlisten = () => listening.unlisten();
    } catch (err) {
      agents.#onError(new Error(`cannot LISTEN for agent changes, polling only: ${err}`));
    }
    return agents;
  }

  signature(): string {
    return this.#stale() ? "unconfirmed" : this.#version;
  }

  read(): AgentRecord[] {
    return this.#stale() ? [] : this.#records.map((r) => ({ ...r }));
  }

  /** Why agents are refused now (the store stopped answering), or `null`. */
  problem(): string | null {
    this.#tickHealth();
    return this.#problem;
  }

  /** Enrols `name` and returns its token (shown once). Throws as the file registry does. */
  async add(name: string, profile: string): Promise<string> {
    const { record, token } = enrolment(name, profile, this.#now());
    await this.#sql.begin(async (tx) => {
      const inserted = await tx`INSERT INTO clawpatrol_agents
          (name, profile, token_sha256, scram_sha256, created_at)
        VALUES (${name}, ${profile}, ${record.tokenSha256}, ${record.scramSha256 ?? null},
          ${record.createdAt})
        ON CONFLICT (name) DO NOTHING RETURNING name`;
      if (inserted.length === 0) {
        const [row] = await tx`SELECT revoked_at FROM clawpatrol_agents WHERE name = ${name}`;
        throw nameTaken(name, row?.revoked_at != null);
      }
      await tx`SELECT pg_notify(${CHANNEL}, ${name})`;
    });
    await this.refresh();
    return token;
  }

  /** Revokes `name` on every gateway. Throws when unknown or revoked already. */
  async revoke(name: string): Promise<void> {
    await this.#change(name, (tx) =>
      tx`UPDATE clawpatrol_agents
        SET revoked_at = ${this.#now().toISOString()},
          version = nextval('clawpatrol_agents_version')
        WHERE name = ${name} AND revoked_at IS NULL RETURNING name`);
  }

  /** Gives `name` a new token and returns it; the old one stops working on every gateway. */
  async rotate(name: string): Promise<string> {
    const { token, tokenSha256, scramSha256 } = newCredentials();
    await this.#change(name, (tx) =>
      tx`UPDATE clawpatrol_agents
        SET token_sha256 = ${tokenSha256}, scram_sha256 = ${scramSha256},
          rotated_at = ${this.#now().toISOString()},
          version = nextval('clawpatrol_agents_version')
        WHERE name = ${name} AND revoked_at IS NULL RETURNING name`);
    return token;
  }

  /** Reads the agents now (after a change made here), whatever the poll says. */
  async refresh(): Promise<void> {
    this.#kick();
    while (this.#refreshing) await this.#refreshing;
  }

  /** Stops polling and listening; the pool is the caller's to end. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#unlisten) await settledWithin(this.#unlisten(), 1_000);
  }

  async #change(
    name: string,
    update: (tx: Query) => PromiseLike<readonly unknown[]>,
  ): Promise<void> {
    await this.#sql.begin(async (tx) => {
      const changed = await update(tx);
      if (changed.length === 0) {
        const [row] = await tx`SELECT revoked_at FROM clawpatrol_agents WHERE name = ${name}`;
        throw notActive(name, row?.revoked_at ? iso(row.revoked_at) : null);
      }
      await tx`SELECT pg_notify(${CHANNEL}, ${name})`;
    });
    await this.refresh();
  }

  #stale(): boolean {
    return performance.now() - this.#confirmedAt > this.#staleAfterMs;
  }

  #tick(): void {
    this.#tickHealth();
    // A query on a connection to a host that vanished can hang until TCP gives up: past the
    // stale limit it is left behind, and the next one goes out on another connection.
    if (this.#refreshing && performance.now() - this.#refreshStartedAt > this.#staleAfterMs) {
      this.#refreshing = null;
    }
    if (!this.#refreshing) this.#kick(true);
  }

  /** Reports a change of standing once each way; the timer calls it even while a query hangs. */
  #tickHealth(): void {
    const stale = this.#stale();
    if (stale && this.#problem === null) {
      this.#problem = `the store has not answered for ${
        Math.round((performance.now() - this.#confirmedAt) / 1000)
      } s: agents cannot be checked, every agent is refused`;
      this.#onHealth(this.#problem);
    } else if (!stale && this.#problem !== null) {
      this.#problem = null;
      this.#onHealth(null);
    }
  }

  /** Starts a refresh, or asks the running one to go again (a change may have raced it). */
  #kick(pollOnly = false): void {
    if (this.#closed) return;
    if (this.#refreshing) {
      this.#again = true;
      return;
    }
    this.#refreshStartedAt = performance.now();
    const refreshing: Promise<void> = (async () => {
      do {
        this.#again = false;
        try {
          await (pollOnly ? this.#poll() : this.#reload());
        } catch (err) {
          this.#onError(err instanceof Error ? err : new Error(String(err)));
        }
        pollOnly = false;
      } while (this.#again && !this.#closed);
    })().finally(() => {
      if (this.#refreshing === refreshing) this.#refreshing = null;
      this.#tickHealth();
    });
    this.#refreshing = refreshing;
  }

  /** The cheap check: one number, and the full read only when it moved. */
  async #poll(): Promise<void> {
    const [{ version }] = await this.#sql`SELECT coalesce(max(version), 0)::text AS version
      FROM clawpatrol_agents`;
    if (version === this.#version) {
      this.#confirmedAt = performance.now();
      return;
    }
    await this.#reload();
  }

  async #reload(): Promise<void> {
    const rows = await this.#sql`SELECT name, profile, token_sha256, scram_sha256, created_at,
        rotated_at, revoked_at, version::text AS version
      FROM clawpatrol_agents ORDER BY enrolled`;
    let version = "0";
    this.#records = rows.map((row) => {
      if (BigInt(row.version) > BigInt(version)) version = row.version;
      return {
        name: row.name,
        profile: row.profile,
        tokenSha256: row.token_sha256,
        ...row.scram_sha256 === null ? {} : { scramSha256: row.scram_sha256 },
        createdAt: iso(row.created_at),
        rotatedAt: row.rotated_at === null ? null : iso(row.rotated_at),
        revokedAt: row.revoked_at === null ? null : iso(row.revoked_at),
      };
    });
    this.#version = version;
    this.#confirmedAt = performance.now();
  }
}

function iso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
