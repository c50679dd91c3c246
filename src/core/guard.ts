/**
 * The guard protocols call (DESIGN.md §2): protocols never import policy, approvals or audit;
 * they receive an {@linkcode ActionGuard} and ask it for every decision.
 *
 * @module
 */

import type { Action, AgentFacts, Facts, Verdict } from "./action.ts";
import type { ProtocolFamily } from "./protocol.ts";
import type { SessionActions } from "./session.ts";

/** What happened after an allowed action was forwarded, for its receipt. */
export interface ExchangeResult {
  /** Status the upstream answered, or the gateway's own (502) when upstream failed. */
  upstreamStatus: number | null;
  /** Bytes the agent sent (body, after the head). */
  bytesIn: number;
  /** Bytes relayed back to the agent (body, after the head). */
  bytesOut: number;
  /** Why the exchange ended abnormally (upstream down, client gone); recorded on the receipt. */
  error?: string;
  /**
   * The action was allowed but never forwarded (another statement of the same message was
   * denied): its receipt records a deny, with the rule's allow as the would-be verdict, so no
   * `allow` receipt stands for something that did not run.
   */
  notRun?: boolean;
}

/**
 * A decided action: the verdict and the receipt that records it (`null`: could not record).
 *
 * An allowed action's receipt is written at decision time, ahead of forwarding, and `finish()`
 * adds its outcome (upstream status, bytes, latency). A denied action's receipt is written at
 * once and `finish()` does nothing.
 */
export interface Decided {
  verdict: Verdict;
  receipt: string | null;
  /** Call exactly once when the exchange is over (later calls are ignored). */
  finish(result: ExchangeResult): void;
  /**
   * Set when the action must wait before it may be forwarded, and settles (never rejects) with
   * the final decision; forward only what it settles with. Either a rule holds it for an
   * approval chain (the verdict above is then a provisional deny without a receipt; abort
   * `signal` to drop the approval), or an allowed action that can change state waits for its
   * receipt to be on disk (the verdict above is the allow; it settles with a deny if the
   * receipt cannot be written).
   */
  held?: Promise<Decided>;
}

/** Options for {@linkcode ActionGuard.decide}. */
export interface DecideOptions {
  /**
   * Aborted when the agent went away: a held action's approval is cancelled and its receipt
   * says so.
   */
  signal?: AbortSignal;
}

/** A decision the gateway takes itself, without rules: authentication, unknown hosts, bad input. */
export interface GatewayEvent {
  protocol: ProtocolFamily;
  endpoint: string | null;
  agent: AgentFacts | null;
  summary: string;
  /** Agent-facing reason; also what the receipt records. */
  reason: string;
  facts?: Facts;
}

/** Decides actions and records every decision; never throws, fails closed. */
export interface ActionGuard {
  /** Runs the rules for one action; an allowed action's receipt is written by `finish()`. */
  decide(action: Action, options?: DecideOptions): Decided;
  /** Records a deny the gateway took itself; returns the receipt id or `null`. */
  refuse(event: GatewayEvent): string | null;
  /** Lets through traffic no rule covers by configuration; a deny when it cannot be recorded. */
  pass(event: GatewayEvent): Decided;
  /** A ledger for one session's actions: see {@linkcode SessionActions}. */
  session(): SessionActions;
}
