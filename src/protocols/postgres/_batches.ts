/**
 * The session's outstanding batches: what was forwarded since each sync point (Sync, Query,
 * FunctionCall) and is still owed a ReadyForQuery. Each batch holds the allowed actions to finish
 * when the server answers, the denial frame standing in for the gateway's probe, the first error
 * the server reported, and the prepared statements it defined.
 *
 * @module
 */

import type { Decided, SessionActions } from "../../core/mod.ts";
import type { Replacement } from "./_relay.ts";

/** Answers still owed by the upstream, one per Sync / Query / FunctionCall forwarded. */
export interface Batch {
  /** Sequence number in the session, so the model can tell which portals a ReadyForQuery ends. */
  seq: number;
  decided: Decided[];
  replacement: Replacement | null;
  error: string | null;
  /**
   * The first error was the one the gateway's denial probe provoked: every message forwarded
   * before it ran (the server skips the rest of a batch after an error, probe included).
   */
  probed: boolean;
  /** Prepared statement names defined in this batch, forgotten if the server reports an error. */
  defined: string[];
}

function newBatch(seq: number): Batch {
  return { seq, decided: [], replacement: null, error: null, probed: false, defined: [] };
}

/** Batches in flight, oldest first, and the one being built. */
export class Batches {
  readonly #actions: Pick<SessionActions, "complete">;
  readonly #inflight: Batch[] = [];
  /** The batch being built since the last sync point. */
  #building: Batch = newBatch(0);

  /** Batches whose actions are completed through `actions` as the server answers them. */
  constructor(actions: Pick<SessionActions, "complete">) {
    this.#actions = actions;
  }

  /** The batch the server is answering now: the oldest in flight, else the one being built. */
  get answering(): Batch {
    return this.#inflight[0] ?? this.#building;
  }

  /** The batch being built. */
  get building(): Batch {
    return this.#building;
  }

  /** Whether anything forwarded is still owed an answer. */
  get waiting(): boolean {
    return this.#inflight.length > 0;
  }

  /** The batch being built is complete (a sync point was forwarded). */
  syncPoint(): void {
    this.#inflight.push(this.#building);
    this.#building = newBatch(this.#building.seq + 1);
  }

  /** ReadyForQuery arrived: the oldest batch is answered; its actions are completed. */
  answered(): Batch | undefined {
    const done = this.#inflight.shift();
    if (!done) return undefined;
    if (done.decided.length > 0) {
      this.#actions.complete(done.decided, {
        upstreamStatus: null,
        bytesIn: 0,
        bytesOut: 0,
        error: done.error ? `upstream error ${done.error}` : undefined,
      });
    }
    return done;
  }

  /**
   * The session ended: nothing more will be answered. What was forwarded and never answered is
   * completed by the session's ledger when the driver closes it.
   */
  reset(): void {
    this.#inflight.length = 0;
    this.#building = newBatch(this.#building.seq + 1);
  }
}
