/**
 * The audit arrow: receipts for decided actions. A deny's is written at once, an allow's written
 * ahead of forwarding and completed with its outcome by `finish()`. Whatever fails here denies.
 *
 * @module
 */

import type {
  Action,
  Decided,
  ExchangeResult,
  Facts,
  GatewayEvent,
  Logger,
  ReceiptInput,
  Verdict,
} from "../core/mod.ts";
import { type BodyKeeping, keepBodies } from "./_bodies.ts";
import { AuditUnavailableError } from "../core/mod.ts";
import type { ReceiptStore } from "../audit/mod.ts";
import { redactFacts } from "../credentials/mod.ts";

/** Agent-facing reason when receipts cannot be recorded: nothing is forwarded unrecorded. */
export const AUDIT_UNAVAILABLE = "the gateway cannot record decisions right now";
/** Outcome error of an allowed action denied because its receipt could not be made durable. */
export const NOT_FORWARDED = "not forwarded: its receipt could not be written";

const NOTHING = () => {};

/** How {@linkcode ActionReceipts.prototype.receipt} writes one decision's receipt. */
export interface ReceiptOptions {
  /** When the decision started, on the guard's clock (for the outcome's latency). */
  started: number;
  /** Whom the operator log names when the receipt fails. */
  who: { agent: { name: string } | null; endpoint: string | null };
  /** Hold an allow until its receipt is on disk. */
  durable: boolean;
}

/** Writes decided actions' receipts and tracks the allowed ones still open. */
export class ActionReceipts {
  readonly #store: ReceiptStore;
  readonly #log: Logger;
  readonly #now: () => number;
  /** `finish` of every allowed action whose exchange has not ended. */
  readonly open = new Set<(result: ExchangeResult) => void>();

  constructor(store: ReceiptStore, log: Logger, now: () => number) {
    this.#store = store;
    this.#log = log;
    this.#now = now;
  }

  /**
   * Writes a deny's receipt now, or an allow's ahead of forwarding (held until it is on disk when
   * `durable`); never forwards what cannot be recorded.
   */
  receipt(
    verdict: Verdict,
    input: () => ReceiptInput,
    { started, who, durable }: ReceiptOptions,
  ): Decided {
    const fields = { agent: who.agent?.name ?? null, endpoint: who.endpoint };
    try {
      if (verdict.decision === "deny") {
        return { verdict, receipt: this.#store.record(input()), finish: NOTHING };
      }
      const reservation = this.#store.reserve(input(), { durable });
      let finished = false;
      const finish = (result: ExchangeResult) => {
        if (finished) return;
        finished = true;
        this.open.delete(finish);
        try {
          reservation.complete({
            time: new Date(),
            upstreamStatus: result.upstreamStatus,
            bytesIn: result.bytesIn,
            bytesOut: result.bytesOut,
            latencyMs: this.#now() - started,
            error: result.error ?? null,
            notRun: result.notRun === true,
          });
        } catch (err) {
          this.#log.log("error", `outcome of ${reservation.id} not written: ${err}`, fields);
        }
      };
      this.open.add(finish);
      const decided: Decided = { verdict, receipt: reservation.id, finish };
      if (!durable) return decided;
      // Forwarded only once the decision is on disk; if it cannot get there, nothing runs.
      const held = reservation.durable.then(() => decided, (err) => {
        finish({
          upstreamStatus: null,
          bytesIn: 0,
          bytesOut: 0,
          error: NOT_FORWARDED,
          notRun: true,
        });
        return this.#unrecorded(verdict, err, fields);
      });
      return { ...decided, held };
    } catch (err) {
      return this.#unrecorded(verdict, err, fields);
    }
  }

  // Never forward what cannot be recorded.
  #unrecorded(verdict: Verdict, err: unknown, fields: Record<string, unknown>): Decided {
    const why = err instanceof AuditUnavailableError ? err.message : String(err);
    this.#log.log("error", `receipt not recorded, denying: ${why}`, fields);
    return {
      verdict: {
        decision: "deny",
        wouldBe: "deny",
        mode: "enforce",
        rule: verdict.rule,
        reason: AUDIT_UNAVAILABLE,
      },
      receipt: null,
      finish: NOTHING,
    };
  }
}

/** What an action's receipt records besides the action itself. */
export interface ActionRecord {
  verdict: Verdict;
  /** The redacted facts, or unset to redact them now (a failure then denies, unrecorded). */
  facts: Facts | undefined;
  latencyMs: number;
  /** The digest of the policy that decided (`null`: a policy compiled without one). */
  policy: string | null;
  /** What the receipt keeps of a request body. @default {all of it} */
  bodies?: BodyKeeping;
}

/** The receipt of an action decided by the rules, before its outcome is known. */
export function actionReceiptInput(action: Action, record: ActionRecord): ReceiptInput {
  const { verdict } = record;
  const redacted = record.facts ?? redactFacts(action.facts);
  const { facts, dropped } = record.bodies
    ? keepBodies(redacted, record.bodies)
    : { facts: redacted, dropped: [] };
  return {
    time: new Date(),
    agent: action.agent.name,
    profile: action.agent.profile,
    endpoint: action.endpoint,
    protocol: action.protocol,
    summary: action.summary,
    facts: withUnknown(facts, [...action.unknown ?? [], ...dropped]),
    rule: verdict.rule,
    mode: verdict.mode,
    verdict: verdict.decision,
    wouldBe: verdict.wouldBe,
    reason: verdict.detail ? `${verdict.reason} (${verdict.detail})` : verdict.reason,
    approvals: [],
    upstreamStatus: null,
    bytesIn: 0,
    bytesOut: 0,
    latencyMs: record.latencyMs,
    policy: record.policy,
  };
}

/** The receipt of a decision the gateway took itself, without rules. */
export function eventReceiptInput(
  event: GatewayEvent,
  record: Omit<ActionRecord, "facts">,
): ReceiptInput {
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
    verdict: record.verdict.decision,
    wouldBe: record.verdict.wouldBe,
    reason: event.reason,
    approvals: [],
    upstreamStatus: null,
    bytesIn: 0,
    bytesOut: 0,
    latencyMs: record.latencyMs,
    policy: record.policy,
  };
}

/** The receipt's facts: `unknown` added when some could not be derived, else `facts` itself. */
function withUnknown(facts: Facts, unknown: readonly string[] | undefined): unknown {
  return unknown?.length ? { ...facts, unknown } : facts;
}
