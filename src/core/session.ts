/**
 * A relayed session as a state machine without I/O (DESIGN.md §2): a protocol's session takes
 * events (bytes from a peer, a peer gone) and emits {@linkcode SessionCommand}s; the driver in
 * `net/` owns the sockets and executes them. Its actions go through {@linkcode SessionActions},
 * which the pipeline implements so that every action gets exactly one receipt however the
 * session ends.
 *
 * @module
 */

import type { Action } from "./action.ts";
import type { Decided, DecideOptions, ExchangeResult, GatewayEvent } from "./guard.ts";

/** The two ends of a relayed session. */
export type Peer = "agent" | "upstream";

/** What a session asks its driver to do, in order. */
export type SessionCommand =
  /** Write `bytes` to `to` (the driver applies backpressure to the other side). */
  | { kind: "send"; to: Peer; bytes: Uint8Array }
  /** Stop reading from `peer` (a held statement has enough queued behind it). */
  | { kind: "pause"; peer: Peer }
  | { kind: "resume"; peer: Peer }
  /** Ask the upstream to stop the work in flight: nobody is left to take its answer. */
  | { kind: "interrupt" }
  /**
   * End the session. `graceful`: each side is ended after its `last` bytes are flushed (bounded
   * in time); otherwise both sockets are destroyed at once. Further events are ignored.
   */
  | { kind: "close"; reason: string; graceful: boolean; last?: Partial<Record<Peer, Uint8Array>> };

/** Where a session's commands go. */
export type SessionEmit = (command: SessionCommand) => void;

/** A relayed session as the driver sees it. */
export interface RelaySession {
  /** Called once, first: commands go to `emit` from now on, also later (an approval settles). */
  start(emit: SessionEmit): void;
  /** Bytes arrived from `from`. */
  received(from: Peer, bytes: Uint8Array): void;
  /** `peer` closed its side, or its connection failed (`failed`). */
  lost(peer: Peer, failed: boolean): void;
}

/** What the driver needs besides the sockets and the session. */
export interface RelayOptions {
  /** Closed when the session ends, whatever ends it. */
  actions: SessionActions;
  /** Executes {@linkcode SessionCommand} `interrupt` (a PostgreSQL cancel request). */
  interrupt?(): void;
}

/** A running relay. */
export interface RelayHandle {
  /** Settles once the session closed and its ledger completed what was open. */
  done: Promise<void>;
}

/**
 * One session's way to the pipeline: decides and refuses like the guard, and tracks each allowed
 * action until the session reports its outcome. When the session ends, whatever it left open
 * (an action forwarded and never answered, or still held for approval) is completed with why.
 */
export interface SessionActions {
  decide(action: Action, options?: DecideOptions): Decided;
  /** Records a deny the gateway took itself; returns the receipt id or `null`. */
  refuse(event: GatewayEvent): string | null;
  /**
   * Lets through traffic no rule covers by configuration (`unknown_host = "passthrough"`),
   * tracked like an allowed decision until completed.
   */
  pass(event: GatewayEvent): Decided;
  /** What happened to `actions` (allowed ones; others are ignored), each completed once. */
  complete(actions: readonly Decided[], result: ExchangeResult): void;
  /**
   * The session is over: open actions are completed with `reason`, and one still held for
   * approval is completed the moment it settles. Later decisions complete at once.
   */
  close(reason: string): void;
}
