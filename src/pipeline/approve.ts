/**
 * The approve arrow: a rule that asks for approval holds the action while its chain runs. The
 * protocol gets a provisional deny at once and forwards only what `held` settles with; every
 * chain that ends (an answer, a timeout, cancellation, a failure) ends in one receipt.
 *
 * @module
 */

import type {
  Action,
  ApprovalStage,
  Decided,
  Facts,
  Logger,
  ReceiptInput,
  Verdict,
} from "../core/mod.ts";
import type { Approvals, HeldOutcome } from "../approvals/mod.ts";
import type { ActionReceipts } from "./audit.ts";
import { type ApproveOutcome, type DecisionObserver, INTERNAL_ERROR } from "./decide.ts";

/** What the guard needs of the approval chains: running one. */
export type ApprovalRunner = Pick<Approvals, "run">;

/** Provisional reason while an action waits for its approval chain. */
export const AWAITING_APPROVAL = "waiting for approval";

const NOTHING = () => {};

/** Collaborators of {@linkcode ApprovalHolds}, shared with the guard that owns it. */
export interface ApprovalHoldsOptions {
  receipts: ActionReceipts;
  log: Logger;
  /** Monotonic clock in milliseconds. */
  now: () => number;
  observe: DecisionObserver;
  /** Whether an allowed `action` waits for its receipt's commit, read once the chain ended. */
  durable: (action: Action) => boolean;
}

/** One action to hold for its rule's approval chain. */
export interface HoldRequest {
  action: Action;
  approve: ApproveOutcome;
  approvals: ApprovalRunner;
  /** The rule's verdict: the deny that stands if the chain fails. */
  verdict: Verdict;
  /** The receipt as the rule decided it; the chain's outcome is written over it. */
  input: () => ReceiptInput;
  /** When the guard started deciding, on the `now` clock. */
  started: number;
  /** Aborted when the agent went away: the chain is cancelled, the receipt says so. */
  signal: AbortSignal | undefined;
}

/** How a chain ended. */
interface ChainEnd {
  final: Verdict;
  stages: ApprovalStage[];
  reused: string | undefined;
  exchanged: HeldOutcome["exchanged"];
  /** From hand-over to the chain's outcome. */
  waitMs: number;
}

/** Holds actions for their approval chains and tracks the chains running now. */
export class ApprovalHolds {
  readonly #options: ApprovalHoldsOptions;
  /** Chains running now: aborted on shutdown so each held action still gets its receipt. */
  readonly #running = new Set<AbortController>();

  constructor(options: ApprovalHoldsOptions) {
    this.#options = options;
  }

  /** Actions waiting for an approval chain right now. */
  get size(): number {
    return this.#running.size;
  }

  /** Cancels every running chain; each held action still ends in its receipt. */
  abortAll(): void {
    for (const controller of [...this.#running]) controller.abort(new Error("gateway stopping"));
  }

  /**
   * Runs the rule's approval chain while the protocol holds the action. The returned verdict is
   * a provisional deny; `held` settles with the final decision and its receipt (with every
   * stage on it).
   */
  hold(request: HoldRequest): Decided {
    const { signal } = request;
    const controller = new AbortController();
    const cancel = () => controller.abort(signal?.reason);
    if (signal?.aborted) cancel();
    else signal?.addEventListener("abort", cancel, { once: true });
    this.#running.add(controller);
    const held = (async (): Promise<Decided> => {
      const base = request.input();
      let end: ChainEnd;
      try {
        end = await this.#run(request, base, controller);
      } finally {
        this.#running.delete(controller);
        signal?.removeEventListener("abort", cancel);
      }
      return await this.#record(request, base, end);
    })();
    return {
      verdict: { ...request.verdict, reason: AWAITING_APPROVAL },
      receipt: null,
      finish: NOTHING,
      held,
    };
  }

  /** Runs the chain; a chain that fails ends in the rule's deny. */
  async #run(
    request: HoldRequest,
    base: ReceiptInput,
    controller: AbortController,
  ): Promise<ChainEnd> {
    const { action, approve, verdict } = request;
    const { now, log } = this.#options;
    let final: Verdict;
    let stages: ApprovalStage[] = [];
    let reused: string | undefined, exchanged: HeldOutcome["exchanged"];
    const handedOver = now();
    let waitMs = 0;
    try {
      const result = await request.approvals.run(action, {
        rule: approve.rule,
        reason: approve.because ?? approve.reason,
        chain: approve.chain,
        facts: base.facts as Facts,
        signal: controller.signal,
      });
      stages = result.stages;
      reused = result.reused;
      exchanged = result.exchanged;
      final = {
        decision: result.decision,
        wouldBe: result.decision,
        mode: verdict.mode,
        rule: approve.rule,
        reason: result.decision === "allow" ? "allowed" : result.reason,
      };
    } catch (err) {
      final = { ...verdict, reason: INTERNAL_ERROR };
      log.log("error", `approval chain failed: ${err}`, { rule: approve.rule });
    } finally {
      // Whatever ended the chain (an answer, a timeout, cancellation, a failure) ends the wait.
      waitMs = now() - handedOver;
    }
    return { final, stages, reused, exchanged, waitMs };
  }

  /** Writes the chain's outcome as the action's one receipt. */
  async #record(request: HoldRequest, base: ReceiptInput, end: ChainEnd): Promise<Decided> {
    const { action, started } = request;
    const { receipts, now, observe, durable } = this.#options;
    const { final, stages, reused, exchanged, waitMs } = end;
    const approved = stages.filter((s) => s.decision === "allow").map((s) => s.who);
    const decided = receipts.receipt(
      final,
      () => ({
        ...base,
        verdict: final.decision,
        wouldBe: final.wouldBe,
        // A decision reused for a fallback says so, so the trail shows one approval, two uses.
        reason: final.decision === "allow" && approved.length > 0
          ? `approved by ${approved.join(", ")}${reused ? ` (${reused})` : ""}`
          : final.reason,
        approvals: stages,
        latencyMs: now() - started,
      }),
      { started, who: action, durable: durable(action) },
    );
    // The human's minutes are the approval wait, not decision latency.
    observe(action.protocol, decided.verdict, now() - started - waitMs, waitMs);
    if (decided.held) return await settled(decided.held, exchanged);
    return settled(decided, exchanged);
  }
}

/** An approved action as the protocol gets it. */
async function settled(
  pending: Decided | Promise<Decided>,
  exchanged: HeldOutcome["exchanged"],
): Promise<Decided> {
  const decided = await pending;
  if (!exchanged || decided.verdict.decision !== "allow") return decided;
  // Whether the approved upgrade ran (101) decides if its fallback may reuse the approval.
  const [report, finish] = [exchanged, decided.finish];
  return { ...decided, finish: (r) => (report(r.upstreamStatus === 101), finish(r)) };
}
