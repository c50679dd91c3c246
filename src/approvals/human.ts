/**
 * `human_approver`: a person decides, from the CLI (`clawpatrol approvals`), the admin API, or
 * (when configured) Slack; every path feeds the same {@linkcode ApprovalQueue}.
 *
 * @module
 */

import type { ApprovalRequest, Approver, StageDecision } from "../core/mod.ts";
import type { Approver as ApproverConfig } from "../config/mod.ts";
import type { ApprovalQueue } from "./queue.ts";

/** A human stage: the request waits in the queue until people decide. */
export class HumanApprover implements Approver {
  readonly ref: string;
  readonly kind = "human_approver" as const;
  readonly timeoutMs: number | null;
  readonly #queue: ApprovalQueue;
  readonly #quorum: number;
  readonly #slackUsers: string[];

  constructor(config: ApproverConfig, queue: ApprovalQueue) {
    this.ref = `${config.kind}.${config.name}`;
    this.timeoutMs = config.timeoutMs;
    this.#queue = queue;
    const quorum = config.settings.quorum;
    this.#quorum = typeof quorum === "number" && quorum > 0 ? quorum : 1;
    const who = config.settings.approvers;
    this.#slackUsers = Array.isArray(who) ? who : [];
  }

  decide(request: ApprovalRequest, signal: AbortSignal): Promise<StageDecision> {
    return this.#queue.wait(request, this.ref, signal, {
      quorum: this.#quorum,
      slackUsers: this.#slackUsers,
    });
  }
}
