/**
 * One session's actions on their way: the {@linkcode SessionLedger} decides through the guard and
 * keeps every allowed action open until the session reports what happened to it. However the
 * session ends (the agent leaves, the upstream fails, a revocation cuts it), `close()` completes
 * what is still open, and an action still held for approval is completed when it settles: no
 * receipt of a session is left without its outcome, and protocols never finish one by hand.
 *
 * @module
 */

import type {
  Action,
  ActionGuard,
  Decided,
  DecideOptions,
  ExchangeResult,
  GatewayEvent,
  SessionActions,
} from "../core/mod.ts";

/** Tracks one session's allowed actions until each is completed exactly once. */
export class SessionLedger implements SessionActions {
  readonly #guard: Pick<ActionGuard, "decide" | "refuse" | "pass">;
  readonly #open = new Set<Decided>();
  /** Why the session ended, once it has. */
  #closed: string | null = null;

  constructor(guard: Pick<ActionGuard, "decide" | "refuse" | "pass">) {
    this.#guard = guard;
  }

  /** Actions allowed and not completed yet. */
  get open(): number {
    return this.#open.size;
  }

  /**
   * Decides `action`; an allowed one stays open until {@linkcode SessionLedger.complete} or
   * {@linkcode SessionLedger.close}. A held one is tracked by what it settles with.
   *
   * @example
   * ```ts
   * const ledger = new SessionLedger(guard);
   * const decided = ledger.decide(action);
   * ledger.complete([decided], { upstreamStatus: null, bytesIn: 0, bytesOut: 0 });
   * ```
   */
  decide(action: Action, options?: DecideOptions): Decided {
    return this.#opened(this.#guard.decide(action, options));
  }

  refuse(event: GatewayEvent): string | null {
    return this.#guard.refuse(event);
  }

  /**
   * Passes traffic no rule covers; allowed, it stays open like a decided action (a pass waits
   * for its receipt to be durable, so it may come back held).
   */
  pass(event: GatewayEvent): Decided {
    return this.#opened(this.#guard.pass(event));
  }

  complete(actions: readonly Decided[], result: ExchangeResult): void {
    for (const decided of actions) {
      this.#open.delete(decided);
      // Finishing is idempotent: an action completed twice keeps its first outcome.
      decided.finish(result);
    }
  }

  close(reason: string): void {
    if (this.#closed !== null) return;
    this.#closed = reason;
    const open = [...this.#open];
    this.#open.clear();
    this.complete(open, ended(reason));
  }

  /** Tracks `decided` if allowed, or what it settles with when held. */
  #opened(decided: Decided): Decided {
    if (!decided.held) {
      this.#track(decided);
      return decided;
    }
    const held = decided.held.then((settled) => {
      this.#track(settled);
      return settled;
    });
    return {
      verdict: decided.verdict,
      receipt: decided.receipt,
      finish: (result) => decided.finish(result),
      held,
    };
  }

  #track(decided: Decided): void {
    if (decided.verdict.decision !== "allow") return;
    if (this.#closed === null) this.#open.add(decided);
    else decided.finish(ended(this.#closed));
  }
}

function ended(reason: string): ExchangeResult {
  return { upstreamStatus: null, bytesIn: 0, bytesOut: 0, error: reason };
}
