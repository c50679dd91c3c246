/**
 * The guard protocols call: `decide(action)` runs the rules, applies modes, writes the receipt and
 * logs operator detail. Whatever fails in between, the answer is a deny (fail closed).
 *
 * @module
 */

import type {
  Action,
  ActionGuard,
  ApprovalStage,
  Decided,
  DecideOptions,
  Facts,
  GatewayEvent,
  Outcome,
  ProtocolFamily,
  ReceiptInput,
  Verdict,
} from "../core/mod.ts";
import type { ReceiptStore } from "../audit/mod.ts";
import type { Approvals, HeldOutcome } from "../approvals/mod.ts";
import { type Policy, verdictOf } from "../policy/mod.ts";
import { redactFacts } from "../credentials/mod.ts";
import type { Logger } from "./log.ts";
import { scrubDetail } from "./_scrub.ts";
import { type ReceiptDurability, waitsForDurableReceipt } from "./_durability.ts";
import { ActionReceipts } from "./_action_receipts.ts";

/**
 * Called once per decided action, for metrics. `decisionMs` is the gateway's own work; for an action
 * held for approval, `approvalWaitMs` is the time from hand-over to the chain's outcome (else null).
 */
export type DecisionObserver = (
  protocol: ProtocolFamily,
  verdict: Verdict,
  decisionMs: number,
  approvalWaitMs: number | null,
) => void;

/** What the guard needs of the approval chains: running one. */
export type ApprovalRunner = Pick<Approvals, "run">;

/** Collaborators of a {@linkcode Guard} besides its policy and receipt store. */
export interface GuardOptions {
  /** Operator log for deny details and internal failures. */
  log: Logger;
  /** Metrics hook. @default {no-op} */
  observe?: DecisionObserver;
  /** Read per held action; without approvals a rule that asks for approval denies. @default {none} */
  approvals?: () => ApprovalRunner | null;
  /** Monotonic clock in milliseconds (tests pass a fake one). @default {performance.now} */
  now?: () => number;
  /** Read per action: which allowed actions wait for a durable receipt. @default {"writes"} */
  durability?: () => ReceiptDurability;
}

/** Agent-facing reason when the gateway itself failed; the detail goes to the operator log. */
export const INTERNAL_ERROR = "the gateway could not decide this request";
export { AUDIT_UNAVAILABLE, NOT_FORWARDED } from "./_action_receipts.ts";
/** Provisional reason while an action waits for its approval chain. */
export const AWAITING_APPROVAL = "waiting for approval";

const NOTHING = () => {};

/** Decides actions against the current policy and records every decision. */
export class Guard implements ActionGuard {
  #policy: () => Policy;
  #receipts: ReceiptStore;
  #log: Logger;
  #observe: DecisionObserver;
  readonly #now: () => number;
  readonly #written: ActionReceipts;
  readonly #approvals: () => ApprovalRunner | null;
  readonly #durability: () => ReceiptDurability;
  /** Chains running now: aborted on shutdown so each held action still gets its receipt. */
  readonly #held = new Set<AbortController>();

  /**
   * `policy` (and `options.approvals`) are read on every call, so hot reload swaps them
   * atomically between actions.
   */
  constructor(policy: () => Policy, receipts: ReceiptStore, options: GuardOptions) {
    this.#policy = policy;
    this.#receipts = receipts;
    this.#log = options.log;
    this.#observe = options.observe ?? NOTHING;
    this.#approvals = options.approvals ?? (() => null);
    this.#now = options.now ?? (() => performance.now());
    this.#durability = options.durability ?? (() => "writes");
    this.#written = new ActionReceipts(receipts, options.log, this.#now);
  }

  /**
   * Decides one action and reserves or records its receipt. Never throws: internal failures deny.
   *
   * @example
   * ```ts
   * const decided = guard.decide(action);
   * if (decided.verdict.decision === "deny") return deny(decided.verdict.reason, decided.receipt);
   * // … forward, then:
   * decided.finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 512 });
   * ```
   */
  decide(action: Action, options: DecideOptions = {}): Decided {
    const started = this.#now();
    let verdict: Verdict;
    let approve: Extract<Outcome, { kind: "approve" }> | null = null;
    try {
      const { outcome, mode, observed } = this.#policy().evaluate(action);
      verdict = verdictOf(outcome, mode, observed);
      // Held only when the approval decides: in observe mode the action goes through anyway.
      if (outcome.kind === "approve" && verdict.decision === "deny") approve = outcome;
    } catch (err) {
      verdict = verdictOf(
        { kind: "deny", rule: null, reason: INTERNAL_ERROR, detail: String(err) },
        "enforce",
      );
    }
    let facts: Facts | undefined;
    try {
      facts = redactFacts(action.facts);
      // An evaluation error can quote the fact it choked on, a credential header included.
      if (verdict.detail) {
        verdict = { ...verdict, detail: scrubDetail(verdict.detail, action.facts, facts) };
      }
    } catch (err) {
      if (verdict.detail) verdict = { ...verdict, detail: `(detail withheld: ${err})` };
    }
    if (verdict.detail) {
      this.#log.log("warn", `deny detail: ${verdict.detail}`, {
        agent: action.agent.name,
        endpoint: action.endpoint,
        rule: verdict.rule,
      });
    }
    const input = (): ReceiptInput => ({
      time: new Date(),
      agent: action.agent.name,
      profile: action.agent.profile,
      endpoint: action.endpoint,
      protocol: action.protocol,
      summary: action.summary,
      facts: withUnknown(facts ?? redactFacts(action.facts), action.unknown),
      rule: verdict.rule,
      mode: verdict.mode,
      verdict: verdict.decision,
      wouldBe: verdict.wouldBe,
      reason: verdict.detail ? `${verdict.reason} (${verdict.detail})` : verdict.reason,
      approvals: [],
      upstreamStatus: null,
      bytesIn: 0,
      bytesOut: 0,
      latencyMs: this.#now() - started,
    });
    const approvals = approve ? this.#approvals() : null;
    if (approve && approvals) {
      return this.#hold(action, approve, approvals, verdict, input, started, options.signal);
    }
    const durable = waitsForDurableReceipt(action, this.#durability());
    const decided = this.#written.receipt(verdict, input, started, action, durable);
    this.#observe(action.protocol, decided.verdict, this.#now() - started, null);
    return decided;
  }

  /**
   * Runs the rule's approval chain while the protocol holds the action. The returned verdict is
   * a provisional deny; `held` settles with the final decision and its receipt (with every
   * stage on it).
   */
  #hold(
    action: Action,
    approve: Extract<Outcome, { kind: "approve" }>,
    approvals: ApprovalRunner,
    verdict: Verdict,
    input: () => ReceiptInput,
    started: number,
    signal: AbortSignal | undefined,
  ): Decided {
    const controller = new AbortController();
    const cancel = () => controller.abort(signal?.reason);
    if (signal?.aborted) cancel();
    else signal?.addEventListener("abort", cancel, { once: true });
    this.#held.add(controller);
    const held = (async (): Promise<Decided> => {
      const base = input();
      let final: Verdict;
      let stages: ApprovalStage[] = [];
      let reused: string | undefined, exchanged: HeldOutcome["exchanged"];
      const handedOver = this.#now();
      let waitMs = 0;
      try {
        const result = await approvals.run(
          action,
          approve.rule,
          approve.because ?? approve.reason,
          approve.chain,
          base.facts as Facts,
          controller.signal,
        );
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
        this.#log.log("error", `approval chain failed: ${err}`, { rule: approve.rule });
      } finally {
        // Whatever ended the chain (an answer, a timeout, cancellation, a failure) ends the wait.
        waitMs = this.#now() - handedOver;
        this.#held.delete(controller);
        signal?.removeEventListener("abort", cancel);
      }
      const approved = stages.filter((s) => s.decision === "allow").map((s) => s.who);
      const decided = this.#written.receipt(
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
          latencyMs: this.#now() - started,
        }),
        started,
        action,
        waitsForDurableReceipt(action, this.#durability()),
      );
      // The human's minutes are the approval wait, not decision latency.
      this.#observe(action.protocol, decided.verdict, this.#now() - started - waitMs, waitMs);
      if (decided.held) return await this.#settled(decided.held, exchanged);
      return this.#settled(decided, exchanged);
    })();
    return {
      verdict: { ...verdict, reason: AWAITING_APPROVAL },
      receipt: null,
      finish: NOTHING,
      held,
    };
  }

  /** An approved action as the protocol gets it. */
  async #settled(
    pending: Decided | Promise<Decided>,
    exchanged: HeldOutcome["exchanged"],
  ): Promise<Decided> {
    const decided = await pending;
    if (!exchanged || decided.verdict.decision !== "allow") return decided;
    // Whether the approved upgrade ran (101) decides if its fallback may reuse the approval.
    const [report, finish] = [exchanged, decided.finish];
    return { ...decided, finish: (r) => (report(r.upstreamStatus === 101), finish(r)) };
  }

  /** Actions waiting for an approval chain right now. */
  get held(): number {
    return this.#held.size;
  }

  /**
   * Records a deny the gateway decided itself (no rule involved) and returns the receipt id, or
   * `null` when it could not be recorded (the caller denies either way).
   *
   * @example
   * ```ts
   * const receipt = guard.refuse({ protocol: "https", endpoint: null, agent: null,
   *   summary: "CONNECT evil.example:443", reason: "proxy authentication required" });
   * ```
   */
  refuse(event: GatewayEvent): string | null {
    return this.#gatewayDecision(event, "deny").receipt;
  }

  /**
   * Lets through traffic that no rule covers by configuration (`unknown_host = "passthrough"`).
   * The receipt is reserved now and written by `finish()` with the byte counts; when no receipt
   * can be reserved the verdict is a deny.
   */
  pass(event: GatewayEvent): Decided {
    return this.#gatewayDecision(event, "allow");
  }

  /** A rule-less decision: receipt written (deny) or reserved (allow), observed for metrics. */
  #gatewayDecision(event: GatewayEvent, decision: "allow" | "deny"): Decided {
    const started = this.#now();
    const verdict: Verdict = {
      decision,
      wouldBe: decision,
      mode: "enforce",
      rule: null,
      reason: event.reason,
    };
    // What passes through is opaque bytes: it waits for a durable receipt like any write.
    const decided = this.#written.receipt(
      verdict,
      () => this.#eventInput(event, verdict, started),
      started,
      { agent: event.agent, endpoint: event.endpoint },
      true,
    );
    this.#observe(event.protocol, decided.verdict, this.#now() - started, null);
    return decided;
  }

  /** Allowed actions whose exchange has not finished yet. */
  get open(): number {
    return this.#written.open.size;
  }

  /**
   * Writes the receipt of every allowed action still open, marked as cut short. Called on
   * shutdown after the listeners closed, so no forwarded action goes unrecorded.
   */
  finishOpen(reason = "gateway stopped before the exchange ended"): void {
    for (const controller of [...this.#held]) controller.abort(new Error("gateway stopping"));
    for (const finish of [...this.#written.open]) {
      finish({ upstreamStatus: null, bytesIn: 0, bytesOut: 0, error: reason });
    }
  }

  #eventInput(event: GatewayEvent, verdict: Verdict, started: number): ReceiptInput {
    return {
      time: new Date(),
      agent: event.agent?.name ?? null,
      profile: event.agent?.profile ?? null,
      endpoint: event.endpoint,
      protocol: event.protocol,
      summary: event.summary,
      facts: event.facts ? redactFacts(event.facts) : {},
      rule: null,
      mode: "enforce",
      verdict: verdict.decision,
      wouldBe: verdict.wouldBe,
      reason: event.reason,
      approvals: [],
      upstreamStatus: null,
      bytesIn: 0,
      bytesOut: 0,
      latencyMs: this.#now() - started,
    };
  }
}

/** The receipt's facts: `unknown` added when some could not be derived, else `facts` itself. */
function withUnknown(facts: Facts, unknown: readonly string[] | undefined): unknown {
  return unknown?.length ? { ...facts, unknown } : facts;
}
