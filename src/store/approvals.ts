/**
 * Held approvals shared through the store: each request a human stage holds here is written to
 * `clawpatrol_approvals`, every gateway lists the others' (kept fresh by `NOTIFY`, polled every
 * `pollMs`), and a decision through any gateway's admin API is taken in one transaction that
 * locks the row and checks it is still pending, so of two racing decisions exactly one wins.
 * The holding gateway hears of it (`NOTIFY`, else the poll) and releases the request.
 *
 * A gateway heartbeats in `clawpatrol_gateways`. A request whose gateway has been silent for
 * {@linkcode SILENT_AFTER_S} is neither listed elsewhere nor decided (it may have died with it);
 * after `abandonAfterS` (by the store's clock) its row is marked `abandoned`, so it is never
 * approved into a request nobody holds any more. A gateway restarting marks its own leftovers
 * the same way.
 *
 * The admin API, the dashboard and Slack clicks all decide through
 * {@linkcode SharedApprovals.decide}, so a request is decided from any gateway and a dashboard
 * click racing a CLI decision elsewhere has one winner; the loser can ask
 * {@linkcode SharedApprovals.decidedBy} who won.
 *
 * @module
 */

import type { ApprovalQueue, DecideResult, PendingApproval, QueueEvent } from "../approvals/mod.ts";
import { type Query, settledWithin, type Sql } from "./_connect.ts";

const CHANNEL = "clawpatrol_approvals";
/** Three missed heartbeats: a holder this quiet may be dead, so its requests are not decided. */
export const SILENT_AFTER_S = 3;

/** Options for {@linkcode SharedApprovals.open}. */
export interface SharedApprovalsOptions {
  /** This gateway's stable id (its receipts' chain is named by it too). */
  gateway: string;
  /** Heartbeat and poll interval. @default {1_000} */
  pollMs?: number;
  /** A gateway not seen for this long is dead: its pending rows are abandoned. @default {10} */
  abandonAfterS?: number;
  /** Told about each failed store operation (the previous state stays in force). */
  onError?: (error: Error) => void;
}

/** One row of `clawpatrol_approvals` as read. */
interface Row {
  id: string;
  gateway: string;
  state: "pending" | "allowed" | "denied" | "gone" | "abandoned";
  approver: string;
  quorum: number;
  allowed_by: string[];
  request: Record<string, unknown>;
  since: Date;
  decided_by: string | null;
  reason: string | null;
}

/** The approvals the admin API lists and decides: this gateway's and the other gateways'. */
export class SharedApprovals {
  readonly #sql: Sql;
  readonly #queue: ApprovalQueue;
  readonly #gateway: string;
  readonly #pollMs: number;
  readonly #abandonAfterS: number;
  readonly #onError: (error: Error) => void;
  /** Pending on other gateways, as last read. */
  #remote: PendingApproval[] = [];
  /** Per held id: the chain of its writes (insert first), and whether the insert landed. */
  readonly #writes = new Map<string, Promise<boolean>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #unlisten: (() => Promise<void>) | null = null;
  #unsubscribe: () => void = () => {};
  #ticking = false;
  #closed = false;

  private constructor(sql: Sql, queue: ApprovalQueue, options: SharedApprovalsOptions) {
    this.#sql = sql;
    this.#queue = queue;
    this.#gateway = options.gateway;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#abandonAfterS = options.abandonAfterS ?? 10;
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Registers this gateway (abandoning what it held before a restart), then mirrors `queue`.
   *
   * @example
   * ```ts
   * const approvals = await SharedApprovals.open(sql, queue, { gateway: "gw_1a2b" });
   * approvals.list(); // held here and on every other gateway of the store
   * ```
   */
  static async open(
    sql: Sql,
    queue: ApprovalQueue,
    options: SharedApprovalsOptions,
  ): Promise<SharedApprovals> {
    const shared = new SharedApprovals(sql, queue, options);
    await sql.begin(async (tx) => {
      await tx`INSERT INTO clawpatrol_gateways (id) VALUES (${shared.#gateway})
        ON CONFLICT (id) DO UPDATE SET started_at = now(), seen_at = now()`;
      // What this gateway held before it stopped died with it.
      await tx`UPDATE clawpatrol_approvals
        SET state = 'abandoned', reason = 'its gateway restarted', decided_at = now()
        WHERE gateway = ${shared.#gateway} AND state = 'pending'`;
    });
    shared.#unsubscribe = queue.subscribe((event) => shared.#mirror(event));
    const timer = setInterval(() => shared.#tick(), shared.#pollMs);
    Deno.unrefTimer(timer);
    shared.#timer = timer;
    try {
      const listening = await sql.listen(
        CHANNEL,
        (id) => shared.#notified(id),
        () => shared.#tick(),
      );
      shared.#unlisten = () => listening.unlisten();
    } catch (err) {
      shared.#report(new Error(`cannot LISTEN for approvals, polling only: ${err}`));
    }
    await shared.#readRemote();
    return shared;
  }

  /** Held here and on the other gateways, oldest first. */
  list(): PendingApproval[] {
    const local = this.#queue.list();
    const remote = this.#remote.filter((p) => !this.#queue.get(p.request.id));
    return [...local, ...remote].sort((a, b) => a.since.getTime() - b.since.getTime());
  }

  /** The request `id` held here or on another gateway (as last read), if it is pending. */
  get(id: string): PendingApproval | undefined {
    return this.#queue.get(id) ?? this.#remote.find((p) => p.request.id === id);
  }

  /**
   * Follows this gateway's own queue (Slack posts what is held here; another gateway's requests
   * are posted by that gateway). Returns the unsubscribe.
   */
  subscribe(listener: (event: QueueEvent) => void): () => void {
    return this.#queue.subscribe(listener);
  }

  /**
   * How request `id` ended, for a decider that lost the race: `"allowed by cli:alice"`,
   * `"denied by dashboard:bob"`, `"abandoned"`, `"given up"`; `null` when the store never had it
   * or it is still pending. Rejects when the store cannot be reached.
   */
  async decidedBy(id: string): Promise<string | null> {
    const [row] = await this.#sql<Row[]>`SELECT * FROM clawpatrol_approvals WHERE id = ${id}`;
    if (!row || row.state === "pending") return null;
    if (row.state === "gone") return "given up";
    if (row.state === "abandoned") return "abandoned";
    return `${row.state} by ${row.decided_by ?? "unknown"}`;
  }

  /**
   * Decides request `id`, wherever it is held. Rejects when the store cannot be reached (the
   * admin API answers 503): a decision is never taken on one side only.
   */
  async decide(
    id: string,
    decision: "allow" | "deny",
    who: string,
    reason: string,
  ): Promise<DecideResult> {
    const held = this.#writes.get(id);
    // Never shared (its insert failed): no other gateway can decide it, the queue alone does.
    if (this.#queue.get(id) && held && !(await held)) {
      return this.#queue.decide(id, decision, who, reason);
    }
    const taken = await this.#sql.begin((tx) => takeDecision(tx, id, decision, who, reason));
    if (taken.row) {
      this.#apply(taken.row);
      this.#tick();
    }
    return taken.result;
  }

  /** Stops mirroring; the pool is the caller's to end. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe();
    // The requests still held end with the gateway: their last writes ('gone') go out first.
    await settledWithin(Promise.allSettled(this.#writes.values()), 2_000);
    if (this.#unlisten) await settledWithin(this.#unlisten(), 1_000);
  }

  /** Writes the local queue's changes to the store, in order per request. */
  #mirror(event: QueueEvent): void {
    const id = event.pending.request.id;
    if (event.kind === "vote") return;
    if (event.kind === "held") {
      this.#writes.set(id, this.#insert(event.pending));
      return;
    }
    const before = this.#writes.get(id) ?? Promise.resolve(false);
    const state = event.kind === "gone"
      ? { state: "gone", who: null, reason: "given up (timed out or the agent went away)" }
      : {
        state: event.decision.decision === "allow" ? "allowed" : "denied",
        who: event.decision.who,
        reason: event.decision.reason,
      };
    const done = before.then(async (inserted) => {
      if (!inserted) return false;
      try {
        await this.#sql`UPDATE clawpatrol_approvals
          SET state = ${state.state}, decided_by = ${state.who}, reason = ${state.reason},
            decided_at = now()
          WHERE id = ${id} AND state = 'pending'`;
        await this.#sql`SELECT pg_notify(${CHANNEL}, ${id})`;
      } catch (err) {
        this.#report(err);
      }
      return false;
    });
    this.#writes.set(id, done);
    done.finally(() => {
      if (this.#writes.get(id) === done) this.#writes.delete(id);
    });
  }

  async #insert(pending: PendingApproval): Promise<boolean> {
    const { request } = pending;
    // Facts may hold BigInts (CEL integers): kept as strings, as the admin API shows them.
    const json = JSON.stringify(request, (_k, v) => typeof v === "bigint" ? v.toString() : v);
    // Sent as text and cast: the driver would otherwise encode the JSON string once more.
    try {
      await this.#sql`INSERT INTO clawpatrol_approvals
          (id, gateway, state, approver, quorum, request, since)
        VALUES (${request.id}, ${this.#gateway}, 'pending', ${pending.approver},
          ${pending.quorum}, ${json}::text::jsonb, ${pending.since.toISOString()})`;
      await this.#sql`SELECT pg_notify(${CHANNEL}, ${request.id})`;
      return true;
    } catch (err) {
      this.#report(err);
      return false;
    }
  }

  #notified(id: string): void {
    if (this.#queue.get(id)) this.#readLocal([id]).catch((err) => this.#report(err));
    this.#readRemote().catch((err) => this.#report(err));
  }

  /** Heartbeat, abandon the dead's requests, and catch up on what a lost NOTIFY would have said. */
  #tick(): void {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    (async () => {
      await this.#sql`UPDATE clawpatrol_gateways SET seen_at = now() WHERE id = ${this.#gateway}`;
      const abandoned = await this.#sql`UPDATE clawpatrol_approvals a
        SET state = 'abandoned', reason = 'its gateway stopped', decided_at = now()
        FROM clawpatrol_gateways g
        WHERE a.state = 'pending' AND a.gateway = g.id AND a.gateway <> ${this.#gateway}
          AND g.seen_at < now() - make_interval(secs => ${this.#abandonAfterS})
        RETURNING a.id`;
      if (abandoned.length > 0) await this.#sql`SELECT pg_notify(${CHANNEL}, '')`;
      const local = this.#queue.list().map((p) => p.request.id);
      if (local.length > 0) await this.#readLocal(local);
      await this.#readRemote();
    })().catch((err) => this.#report(err)).finally(() => this.#ticking = false);
  }

  async #readLocal(ids: string[]): Promise<void> {
    const rows = await this.#sql<Row[]>`SELECT * FROM clawpatrol_approvals
      WHERE id IN ${this.#sql(ids)} AND gateway = ${this.#gateway}`;
    for (const row of rows) this.#apply(row);
  }

  async #readRemote(): Promise<void> {
    const rows = await this.#sql<Row[]>`SELECT a.* FROM clawpatrol_approvals a
      JOIN clawpatrol_gateways g ON g.id = a.gateway
      WHERE a.state = 'pending' AND a.gateway <> ${this.#gateway}
        AND g.seen_at > now() - make_interval(secs => ${SILENT_AFTER_S})
      ORDER BY a.since`;
    this.#remote = rows.map(pendingOf);
  }

  /** Replays on the local queue what the store decided for a request held here. */
  #apply(row: Row): void {
    const local = this.#queue.get(row.id);
    if (!local || row.gateway !== this.#gateway) return;
    if (row.state === "denied") {
      this.#queue.decide(row.id, "deny", row.decided_by ?? "unknown", row.reason ?? "");
      return;
    }
    for (const who of row.allowed_by) {
      if (local.allowedBy.includes(who)) continue;
      this.#queue.decide(row.id, "allow", who, row.state === "allowed" ? row.reason ?? "" : "");
    }
  }

  #report(err: unknown): void {
    if (this.#closed) return;
    this.#onError(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * The decision itself, in one transaction: the row is locked, and only a pending row whose
 * gateway is alive changes, so a second decider (on any gateway) finds it decided and gets
 * `unknown`, and nobody decides what a dead gateway held.
 */
async function takeDecision(
  tx: Query,
  id: string,
  decision: "allow" | "deny",
  who: string,
  reason: string,
): Promise<{ result: DecideResult; row?: Row }> {
  const [row] = await tx<(Row & { alive: boolean })[]>`SELECT a.*,
      g.seen_at > now() - make_interval(secs => ${SILENT_AFTER_S}) AS alive
    FROM clawpatrol_approvals a JOIN clawpatrol_gateways g ON g.id = a.gateway
    WHERE a.id = ${id} FOR UPDATE OF a`;
  if (!row || row.state !== "pending" || !row.alive) return { result: "unknown" };
  if (row.allowed_by.includes(who)) return { result: "refused" };
  let state: Row["state"] = "pending";
  let decidedBy: string | null = null;
  let why: string | null = null;
  const allowed = decision === "allow" ? [...row.allowed_by, who] : row.allowed_by;
  if (decision === "deny") {
    [state, decidedBy, why] = ["denied", who, reason || `denied by ${who}`];
  } else if (allowed.length >= row.quorum) {
    [state, decidedBy, why] = [
      "allowed",
      allowed.join("+"),
      reason || `approved by ${allowed.join(", ")}`,
    ];
  }
  const [updated] = await tx<Row[]>`UPDATE clawpatrol_approvals
    SET state = ${state}, allowed_by = ${JSON.stringify(allowed)}::text::jsonb,
      decided_by = ${decidedBy}, reason = ${why},
      decided_at = CASE WHEN ${state} = 'pending' THEN NULL ELSE now() END
    WHERE id = ${id} RETURNING *`;
  await tx`SELECT pg_notify(${CHANNEL}, ${id})`;
  return { result: state === "pending" ? "recorded" : "decided", row: updated };
}

function pendingOf(row: Row): PendingApproval {
  const request = row.request as unknown as PendingApproval["request"];
  return {
    request: { ...request, createdAt: new Date(String(row.request.createdAt)) },
    approver: row.approver,
    quorum: row.quorum,
    allowedBy: [...row.allowed_by],
    since: new Date(row.since),
  };
}
