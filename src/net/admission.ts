/**
 * Connection caps and the handshake deadline, per listener, so one client cannot take every
 * descriptor the gateway has: at most `maxUnauthenticatedConnections` connections that have not
 * proved which agent they are, each for at most `handshakeTimeoutMs`, and at most
 * `maxConnectionsPerAgent` per agent once they have.
 *
 * @module
 */

import type net from "node:net";

import type { Admission, AdmissionLimits, RefusalCause } from "../core/mod.ts";

/** Where a gate reads its limits and reports refusals. */
export interface AdmissionOptions {
  limits(): AdmissionLimits;
  /** A connection closed unserved, with why. */
  refused?(cause: RefusalCause): void;
  /**
   * Bytes sent to a connection refused at accept (over the unauthenticated cap) before it is
   * closed: a protocol-native error such as PostgreSQL' ErrorResponse 53300. Absent: just closed.
   */
  refusal?: Uint8Array;
}

/** No caps, no deadline: listeners the gateway gave no limits (tests, tools). */
const UNLIMITED: AdmissionLimits = {
  maxUnauthenticatedConnections: Infinity,
  maxConnectionsPerAgent: Infinity,
  handshakeTimeoutMs: Infinity,
};

// A connection refused with bytes lingers this long at most, its input drained: closing with the
// agent's bytes unread would reset the connection and lose the refusal. Short, since lingering
// connections hold descriptors outside the cap.
const REFUSAL_LINGER_MS = 250;

/**
 * Counts one listener's connections: unauthenticated ones and each agent's.
 *
 * @example
 * ```ts
 * const gate = new AdmissionGate({ limits: () => config.gateway.limits });
 * const admission = gate.admit(socket); // null: refused and closed
 * if (admission && !admission.authenticated("ci-bot")) socket.destroy();
 * ```
 */
export class AdmissionGate {
  readonly #options: AdmissionOptions;
  #unauthenticated = 0;
  readonly #agents = new Map<string, number>();

  constructor(options?: AdmissionOptions) {
    this.#options = options ?? { limits: () => UNLIMITED };
  }

  /** Connections that have not authenticated yet. */
  get unauthenticated(): number {
    return this.#unauthenticated;
  }

  /** Open connections authenticated as `agent`. */
  connectionsOf(agent: string): number {
    return this.#agents.get(agent) ?? 0;
  }

  /**
   * Admits a freshly accepted connection and starts its handshake deadline, or refuses it (over
   * the unauthenticated cap): then it is closed (after the refusal bytes, if any) and `null`
   * returned. The connection's `close` releases what it counted.
   */
  admit(socket: net.Socket): Admission | null {
    const limits = this.#options.limits();
    if (this.#unauthenticated >= limits.maxUnauthenticatedConnections) {
      this.#options.refused?.("unauthenticated_cap");
      refuse(socket, this.#options.refusal);
      return null;
    }
    this.#unauthenticated++;
    let standing: Standing = { kind: "unauthenticated" };
    const timer = Number.isFinite(limits.handshakeTimeoutMs)
      ? setTimeout(() => {
        if (standing.kind !== "unauthenticated") return;
        this.#options.refused?.("handshake_timeout");
        socket.destroy();
      }, limits.handshakeTimeoutMs)
      : undefined;
    const leaveUnauthenticated = () => {
      clearTimeout(timer);
      this.#unauthenticated--;
    };
    socket.once("close", () => {
      const was = standing;
      standing = { kind: "closed" };
      if (was.kind === "unauthenticated") leaveUnauthenticated();
      else if (was.kind === "agent") this.#leave(was.agent);
    });
    return {
      authenticated: (agent) => {
        if (standing.kind === "agent" || standing.kind === "closed") return true;
        if (standing.kind === "refused") return false;
        leaveUnauthenticated();
        standing = this.#enter(agent) ? { kind: "agent", agent } : { kind: "refused" };
        return standing.kind === "agent";
      },
    };
  }

  /** Counts `agent`'s connection unless the agent is at its cap (then reported refused). */
  #enter(agent: string): boolean {
    const n = this.connectionsOf(agent);
    if (n >= this.#options.limits().maxConnectionsPerAgent) {
      this.#options.refused?.("agent_cap");
      return false;
    }
    this.#agents.set(agent, n + 1);
    return true;
  }

  #leave(agent: string): void {
    const n = this.connectionsOf(agent) - 1;
    if (n > 0) this.#agents.set(agent, n);
    else this.#agents.delete(agent);
  }
}

/** A connection's standing: unauthenticated until it authenticates, then an agent's. */
type Standing =
  | { kind: "unauthenticated" }
  | { kind: "agent"; agent: string }
  /** Over its agent's cap: the protocol closes it. */
  | { kind: "refused" }
  | { kind: "closed" };

/** Sends `last` (if any) and closes; the agent's pending bytes are drained so none resets it. */
function refuse(socket: net.Socket, last: Uint8Array | undefined): void {
  if (!last) return void socket.destroy();
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  socket.once("close", () => clearTimeout(timer));
  socket.on("data", () => {});
  socket.end(last);
}
