/**
 * Held requests waiting for a person: the queue `clawpatrol approvals` and the admin API read
 * and decide, and that Slack clicks feed. A human stage waits here until enough people allowed
 * (quorum), someone denied, or the stage ended.
 *
 * @module
 */

import type { ApprovalRequest, StageDecision } from "../core/mod.ts";

/** One request waiting for a human stage. */
export interface PendingApproval {
  request: ApprovalRequest;
  /** The approver (`human_approver.NAME`) whose stage is waiting. */
  approver: string;
  /** Distinct allows needed. */
  quorum: number;
  /** Who allowed so far. */
  allowedBy: string[];
  since: Date;
}

/** Who may decide at a stage, besides the operator (CLI/admin API, always allowed). */
export interface WaitOptions {
  quorum?: number;
  /**
   * Slack user ids allowed to decide (`approvers = [...]`); empty: anyone in the channel.
   * Deciders named `slack:<id>` outside the list are ignored.
   */
  slackUsers?: readonly string[];
}

/** What a decision did. */
export type DecideResult =
  | "decided"
  /** Counted towards the quorum; the stage still waits. */
  | "recorded"
  /** No such pending request (never held, already decided, or given up). */
  | "unknown"
  /** The decider is not allowed at this stage, or already voted. */
  | "refused";

interface Waiting {
  pending: PendingApproval;
  slackUsers: ReadonlySet<string>;
  settle(decision: StageDecision): void;
}

/** In-memory queue of requests held for a human decision. */
export class ApprovalQueue {
  readonly #waiting = new Map<string, Waiting>();
  readonly #listeners = new Set<(event: QueueEvent) => void>();

  /**
   * Holds `request` until a decision arrives for it, or `signal` aborts (then the request leaves
   * the queue and the returned promise rejects with the abort reason).
   */
  wait(
    request: ApprovalRequest,
    approver: string,
    signal: AbortSignal,
    options: WaitOptions = {},
  ): Promise<StageDecision> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const pending: PendingApproval = {
        request,
        approver,
        quorum: Math.max(1, options.quorum ?? 1),
        allowedBy: [],
        since: new Date(),
      };
      const entry: Waiting = {
        pending,
        slackUsers: new Set(options.slackUsers ?? []),
        settle: (decision) => {
          this.#waiting.delete(request.id);
          signal.removeEventListener("abort", abort);
          this.#emit({ kind: "settled", pending, decision });
          resolve(decision);
        },
      };
      const abort = () => {
        if (this.#waiting.get(request.id) !== entry) return;
        this.#waiting.delete(request.id);
        this.#emit({ kind: "gone", pending, reason: signal.reason });
        reject(signal.reason);
      };
      signal.addEventListener("abort", abort, { once: true });
      this.#waiting.set(request.id, entry);
      this.#emit({ kind: "held", pending });
    });
  }

  /** Requests waiting now, oldest first. */
  list(): PendingApproval[] {
    return [...this.#waiting.values()].map((w) => w.pending);
  }

  /** The pending request with this id, if any. */
  get(id: string): PendingApproval | undefined {
    return this.#waiting.get(id)?.pending;
  }

  /**
   * Records `who`'s decision on request `id`. A deny ends the stage at once; an allow ends it
   * once `quorum` distinct people allowed.
   */
  decide(id: string, decision: "allow" | "deny", who: string, reason = ""): DecideResult {
    const entry = this.#waiting.get(id);
    if (!entry) return "unknown";
    const { pending } = entry;
    if (who.startsWith("slack:") && entry.slackUsers.size > 0) {
      if (!entry.slackUsers.has(who.slice("slack:".length))) return "refused";
    }
    if (pending.allowedBy.includes(who)) return "refused";
    if (decision === "deny") {
      entry.settle({ decision: "deny", who, reason: reason || `denied by ${who}` });
      return "decided";
    }
    pending.allowedBy.push(who);
    if (pending.allowedBy.length < pending.quorum) {
      this.#emit({ kind: "vote", pending });
      return "recorded";
    }
    entry.settle({
      decision: "allow",
      who: pending.allowedBy.join("+"),
      reason: reason || `approved by ${pending.allowedBy.join(", ")}`,
    });
    return "decided";
  }

  /** Follows the queue (Slack message updates, the dashboard). Returns the unsubscribe. */
  subscribe(listener: (event: QueueEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: QueueEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure must not change a decision.
      }
    }
  }
}

/** What happened in the queue. */
export type QueueEvent =
  | { kind: "held"; pending: PendingApproval }
  | { kind: "vote"; pending: PendingApproval }
  | { kind: "settled"; pending: PendingApproval; decision: StageDecision }
  /**
   * The stage ended without a decision: `reason` is the abort reason (a `StageEnded` from the
   * chain says whether it timed out or was cancelled).
   */
  | { kind: "gone"; pending: PendingApproval; reason?: unknown };
