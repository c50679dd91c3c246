/**
 * When accepting fails (the process is out of descriptors or memory), how long a listener waits
 * before it tries again, and where one burst of failures starts and ends, so the operator gets one
 * log line and one health problem per episode rather than one per failed accept.
 *
 * @module
 */

import type { AcceptBurst } from "../core/mod.ts";

/** First wait after a failed accept. */
export const FIRST_DELAY_MS = 10;
/** Longest wait: a listener never sleeps longer than this between tries. */
export const MAX_DELAY_MS = 1_000;
/**
 * A burst ends once accepting has worked this long without failing: under steady exhaustion every
 * closed connection lets exactly one accept through, which is no recovery yet.
 */
export const QUIET_MS = 1_000;

/**
 * Doubling backoff (10 ms to 1 s) over failed accepts, and the bursts they form.
 *
 * @example
 * ```ts
 * const backoff = new AcceptBackoff();
 * backoff.failed(0); // { delayMs: 10, startsBurst: true }
 * backoff.failed(10); // { delayMs: 20, startsBurst: false }
 * backoff.idle(500); // { failures: 2, durationMs: 500 }
 * ```
 */
export class AcceptBackoff {
  #delayMs = 0;
  #burst: { failures: number; since: number; lastFailure: number } | null = null;

  /** Whether a burst is open: accepting failed and has not yet worked for {@linkcode QUIET_MS}. */
  get failing(): boolean {
    return this.#burst !== null;
  }

  /** A failed accept at `now`: how long to wait before the next, and whether a burst starts. */
  failed(now: number): { delayMs: number; startsBurst: boolean } {
    this.#delayMs = this.#delayMs === 0
      ? FIRST_DELAY_MS
      : Math.min(this.#delayMs * 2, MAX_DELAY_MS);
    const burst = this.#burst;
    if (burst) {
      burst.failures++;
      burst.lastFailure = now;
      return { delayMs: this.#delayMs, startsBurst: false };
    }
    this.#burst = { failures: 1, since: now, lastFailure: now };
    return { delayMs: this.#delayMs, startsBurst: true };
  }

  /**
   * An accepted connection at `now`: the next failure waits the shortest time again. Ends the
   * burst (and returns it) only once no accept has failed for {@linkcode QUIET_MS}.
   */
  accepted(now: number): AcceptBurst | null {
    this.#delayMs = 0;
    const burst = this.#burst;
    if (!burst || now - burst.lastFailure < QUIET_MS) return null;
    return this.#end(now);
  }

  /**
   * Nothing waiting to be accepted and no error at `now`: the OS had a descriptor to spare (it
   * takes one before it looks at the queue), so accepting works again. Ends the burst.
   */
  idle(now: number): AcceptBurst | null {
    this.#delayMs = 0;
    return this.#burst ? this.#end(now) : null;
  }

  #end(now: number): AcceptBurst {
    const burst = this.#burst!;
    this.#burst = null;
    return { failures: burst.failures, durationMs: now - burst.since };
  }
}

/**
 * The errno name of a failed accept (`EMFILE`, `ENFILE`, `ENOMEM`, …), `unknown` when the error
 * has none: a bounded label set for metrics.
 */
export function acceptFailureCause(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]{2,15}$/.test(code) ? code : "unknown";
}

const CAUSE_TEXT: Record<string, string> = {
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ENOMEM: "out of memory",
  ENOBUFS: "out of socket buffers",
};

/**
 * Operator-facing text for a failed accept, e.g.
 * `cannot accept connections: too many open files (EMFILE)`.
 */
export function acceptFailureText(cause: string): string {
  const what = CAUSE_TEXT[cause] ?? "accept failed";
  return `cannot accept connections: ${what} (${cause})`;
}
