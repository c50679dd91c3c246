/**
 * One action's way through the gateway: decide, hold for approval, record. Protocols call
 * {@linkcode Guard.decide} and get exactly one verdict and one receipt per action, whatever goes
 * wrong in between; any failure is a deny (fail closed).
 *
 * @module
 */

import type {
  Action,
  ActionGuard,
  Decided,
  DecideOptions,
  GatewayEvent,
  Logger,
  SessionActions,
  Verdict,
} from "../core/mod.ts";
import type { ReceiptStore } from "../audit/mod.ts";
import type { Policy } from "../policy/mod.ts";
import { type DecisionObserver, evaluate } from "./decide.ts";
import { ApprovalHolds, type ApprovalRunner } from "./approve.ts";
import { actionReceiptInput, ActionReceipts, eventReceiptInput } from "./audit.ts";
import { type ReceiptDurability, waitsForDurableReceipt } from "./durability.ts";
import type { BodyKeeping } from "./_bodies.ts";
import { SessionLedger } from "./session.ts";

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
  /** Read per action: what receipts keep of request bodies. @default {all of it} */
  bodies?: () => BodyKeeping;
}

const NOTHING = () => {};

/** Decides actions against the current policy and records every decision. */
export class Guard implements ActionGuard {
  #policy: () => Policy;
  #log: Logger;
  #observe: DecisionObserver;
  readonly #now: () => number;
  readonly #written: ActionReceipts;
  readonly #approvals: () => ApprovalRunner | null;
  readonly #durability: () => ReceiptDurability;
  readonly #bodies: (() => BodyKeeping) | undefined;
  readonly #holds: ApprovalHolds;

  /**
   * `policy` (and `options.approvals`) are read on every call, so hot reload swaps them
   * atomically between actions.
   */
  constructor(policy: () => Policy, receipts: ReceiptStore, options: GuardOptions) {
    this.#policy = policy;
    this.#log = options.log;
    this.#observe = options.observe ?? NOTHING;
    this.#approvals = options.approvals ?? (() => null);
    this.#now = options.now ?? (() => performance.now());
    this.#durability = options.durability ?? (() => "writes");
    this.#bodies = options.bodies;
    this.#written = new ActionReceipts(receipts, options.log, this.#now);
    this.#holds = new ApprovalHolds({
      receipts: this.#written,
      log: this.#log,
      now: this.#now,
      observe: (...args) => this.#observe(...args),
      durable: (action) => waitsForDurableReceipt(action, this.#durability()),
    });
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
    // Read once, inside evaluate's failure handling: a policy that cannot be had denies.
    let policy: Policy | undefined;
    const current = () => policy ??= this.#policy();
    const { verdict, approve, facts } = evaluate(action, { policy: current, log: this.#log });
    // When the decision was made: read once, for the receipt and for the decision metric.
    let decidedAt: number | undefined;
    const input = () =>
      actionReceiptInput(action, {
        verdict,
        facts,
        latencyMs: (decidedAt = this.#now()) - started,
        policy: policy?.digest ?? null,
        bodies: this.#bodies?.(),
      });
    const approvals = approve ? this.#approvals() : null;
    if (approve && approvals) {
      const { signal } = options;
      return this.#holds.hold({ action, approve, approvals, verdict, input, started, signal });
    }
    const durable = waitsForDurableReceipt(action, this.#durability());
    const decided = this.#written.receipt(verdict, input, { started, who: action, durable });
    this.#observe(action.protocol, decided.verdict, (decidedAt ?? this.#now()) - started, null);
    return decided;
  }

  /** A ledger for one session's actions: each completed once, whatever ends the session. */
  session(): SessionActions {
    return new SessionLedger(this);
  }

  /** Actions waiting for an approval chain right now. */
  get held(): number {
    return this.#holds.size;
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
      () =>
        eventReceiptInput(event, {
          verdict,
          latencyMs: this.#now() - started,
          policy: this.#digest(),
        }),
      { started, who: event, durable: true },
    );
    this.#observe(event.protocol, decided.verdict, this.#now() - started, null);
    return decided;
  }

  /** The digest of the policy in force, `null` when it cannot be had (its receipt says so). */
  #digest(): string | null {
    try {
      return this.#policy().digest;
    } catch {
      return null;
    }
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
    this.#holds.abortAll();
    for (const finish of [...this.#written.open]) {
      finish({ upstreamStatus: null, bytesIn: 0, bytesOut: 0, error: reason });
    }
  }
}
