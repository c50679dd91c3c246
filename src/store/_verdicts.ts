/**
 * The LLM judge's verdict cache shared through the store: a verdict one gateway's judge gave is
 * reused by every gateway of the store until it expires, without another model call. Rows are
 * keyed by the caller (approver, model, policy and the request's fingerprint) and carry their
 * expiry by the store's clock; expired rows are pruned now and then by whoever writes.
 *
 * A store that fails never turns into a verdict: {@linkcode SharedVerdicts.get} rejects (the
 * judge then asks the model), {@linkcode SharedVerdicts.set} never does (the failure is told to
 * `onError` once per outage, then ignored).
 *
 * @module
 */

import type { Sql } from "./_connect.ts";

/** A cached verdict, as the judge gave it. */
export interface StoredVerdict {
  decision: "allow" | "deny";
  reason: string;
}

/** Options for {@linkcode SharedVerdicts}. */
export interface SharedVerdictsOptions {
  /** Told about the first failure of each run of failed reads or writes. */
  onError?: (error: Error) => void;
  /** Longest wait for a read before the judge asks the model instead. @default {1_000} */
  readTimeoutMs?: number;
  /** Expired rows are deleted at most this often (by a write). @default {60_000} */
  pruneEveryMs?: number;
}

/** Most expired rows one prune deletes, so a prune stays one short statement. */
const PRUNE_LIMIT = 1_000;

/**
 * Verdicts in `clawpatrol_llm_verdicts`.
 *
 * @example
 * ```ts
 * const verdicts = new SharedVerdicts(store.sql);
 * await verdicts.set(key, { decision: "deny", reason: "drops a table" }, 300_000);
 * await verdicts.get(key, 300_000); // on any gateway of the store, for five minutes
 * ```
 */
export class SharedVerdicts {
  readonly #sql: Sql;
  readonly #onError: (error: Error) => void;
  readonly #readTimeoutMs: number;
  readonly #pruneEveryMs: number;
  #lastPrune = 0;
  #failing = { read: false, write: false };

  constructor(sql: Sql, options: SharedVerdictsOptions = {}) {
    this.#sql = sql;
    this.#onError = options.onError ?? (() => {});
    this.#readTimeoutMs = options.readTimeoutMs ?? 1_000;
    this.#pruneEveryMs = options.pruneEveryMs ?? 60_000;
  }

  /**
   * The verdict for `key` if one is fresh: written less than `ttlMs` ago (this gateway's TTL)
   * and not expired (the writer's). Rejects when the store fails or is slower than the read
   * timeout: the caller then asks the model, as if nothing were cached.
   */
  async get(key: string, ttlMs: number): Promise<StoredVerdict | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#readTimeoutMs} ms`)),
        this.#readTimeoutMs,
      );
    });
    try {
      const read = this.#sql<{ decision: string; reason: string }[]>`SELECT decision, reason
        FROM clawpatrol_llm_verdicts
        WHERE key = ${key} AND expires_at > now()
          AND created_at > now() - make_interval(secs => ${ttlMs / 1000})`;
      // Settled here too: a read that loses the race must not reject unhandled later.
      read.catch(() => {});
      const [row] = await Promise.race([read, late]);
      this.#recovered("read");
      if (!row || (row.decision !== "allow" && row.decision !== "deny")) return undefined;
      return { decision: row.decision, reason: String(row.reason) };
    } catch (err) {
      this.#failed("read", "cannot read the LLM verdict cache, asking the model", err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Remembers `verdict` for `key` for `ttlMs` on every gateway. Never rejects. */
  async set(key: string, verdict: StoredVerdict, ttlMs: number): Promise<void> {
    if (ttlMs <= 0) return;
    const interval = ttlMs / 1000;
    try {
      await this.#sql`INSERT INTO clawpatrol_llm_verdicts (key, decision, reason, expires_at)
        VALUES (${key}, ${verdict.decision}, ${verdict.reason},
          now() + make_interval(secs => ${interval}))
        ON CONFLICT (key) DO UPDATE SET decision = EXCLUDED.decision,
          reason = EXCLUDED.reason, created_at = now(), expires_at = EXCLUDED.expires_at`;
      this.#recovered("write");
      if (Date.now() - this.#lastPrune >= this.#pruneEveryMs) {
        this.#lastPrune = Date.now();
        await this.#sql`DELETE FROM clawpatrol_llm_verdicts WHERE key IN (
          SELECT key FROM clawpatrol_llm_verdicts WHERE expires_at <= now() LIMIT ${PRUNE_LIMIT})`;
      }
    } catch (err) {
      this.#failed("write", "cannot write the LLM verdict cache (ignored)", err);
    }
  }

  #failed(kind: "read" | "write", what: string, err: unknown): void {
    if (this.#failing[kind]) return;
    this.#failing[kind] = true;
    const message = err instanceof Error ? err.message : String(err);
    this.#onError(new Error(`${what}: ${message}`));
  }

  #recovered(kind: "read" | "write"): void {
    this.#failing[kind] = false;
  }
}
