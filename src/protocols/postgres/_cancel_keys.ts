/**
 * The cancel keys the gateway hands agents (BackendKeyData) in place of the upstream's: a
 * CancelRequest carrying one is forwarded with the real key, anything else is ignored, so an
 * agent can only cancel its own statements.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import { cancelUpstream, type UpstreamTarget } from "./_upstream.ts";

/** The gateway's cancel key for a session, and what it maps to upstream. */
interface CancelEntry {
  secret: Uint8Array;
  target: UpstreamTarget;
  upstreamKey: { pid: number; secret: Uint8Array } | null;
}

/** One listener's cancel keys, by the pid the agent was given. */
export class CancelKeys {
  readonly #entries = new Map<number, CancelEntry>();

  /** A new key for a session on `target` whose upstream key is `upstreamKey`. */
  issue(
    target: UpstreamTarget,
    upstreamKey: CancelEntry["upstreamKey"],
  ): { pid: number; secret: Uint8Array } {
    const pid = this.#newPid();
    const secret = crypto.getRandomValues(new Uint8Array(4));
    this.#entries.set(pid, { secret, target, upstreamKey });
    return { pid, secret };
  }

  /** The session ended: its key cancels nothing any more. */
  release(pid: number): void {
    this.#entries.delete(pid);
  }

  /**
   * Forwards a CancelRequest whose key matches one issued (compared in constant time); returns
   * whether it did.
   */
  async cancel(pid: number, secret: Uint8Array): Promise<boolean> {
    const entry = this.#entries.get(pid);
    const matches = entry && entry.secret.length === secret.length &&
      timingSafeEqual(entry.secret, secret);
    if (!entry || !matches || !entry.upstreamKey) return false;
    await cancelUpstream(entry.target, entry.upstreamKey);
    return true;
  }

  #newPid(): number {
    for (;;) {
      // Positive 31-bit, never a real backend's pid on this host by design of the range.
      const pid = (crypto.getRandomValues(new Uint32Array(1))[0] & 0x7fffffff) || 1;
      if (!this.#entries.has(pid)) return pid;
    }
  }
}
