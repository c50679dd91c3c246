/**
 * The driver of a relayed session: owns the agent's and the upstream's sockets, feeds the
 * session what they send (and when they go), and executes the commands it emits. Backpressure is
 * the driver's: a side that cannot take more pauses the other until it drains. Whatever ends the
 * session, the driver closes its {@linkcode SessionActions} ledger, so every action the session
 * left open gets its outcome.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { Peer, RelayHandle, RelayOptions, RelaySession, SessionCommand } from "../core/mod.ts";

/** How long a gracefully ended socket may take to flush its last bytes before it is cut. */
const LINGER_MS = 5_000;

/**
 * Relays `session` between `agent` and `upstream` until it closes.
 *
 * @example
 * ```ts
 * const { done } = relay(agentSocket, upstreamSocket, session, { actions });
 * await done; // both sockets closed, every open action completed
 * ```
 */
export function relay(
  agent: Socket,
  upstream: Socket,
  session: RelaySession,
  options: RelayOptions,
): RelayHandle {
  const sockets: Record<Peer, Socket> = { agent, upstream };
  const other = (peer: Peer): Peer => peer === "agent" ? "upstream" : "agent";
  let closed = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => resolveDone = resolve);

  const execute = (command: SessionCommand): void => {
    if (closed) return;
    switch (command.kind) {
      case "send":
        if (!sockets[command.to].write(command.bytes)) sockets[other(command.to)].pause();
        return;
      case "pause":
        sockets[command.peer].pause();
        return;
      case "resume":
        sockets[command.peer].resume();
        return;
      case "interrupt":
        options.interrupt?.();
        return;
      case "close":
        closed = true;
        if (command.graceful) {
          endThenDestroy(upstream, command.last?.upstream);
          endThenDestroy(agent, command.last?.agent);
        } else {
          agent.destroy();
          upstream.destroy();
        }
        options.actions.close(command.reason);
        resolveDone();
    }
  };

  for (const peer of ["agent", "upstream"] as const) {
    const socket = sockets[peer];
    socket.on("error", () => session.lost(peer, true));
    socket.on("close", () => session.lost(peer, false));
    socket.on("end", () => session.lost(peer, false));
    socket.on("drain", () => sockets[other(peer)].resume());
    socket.on("data", (chunk: Uint8Array) => session.received(peer, chunk));
  }
  session.start(execute);
  agent.resume();
  upstream.resume();
  // Either side may have gone before the session started (no listener saw it then).
  for (const peer of ["agent", "upstream"] as const) {
    const socket = sockets[peer];
    if (socket.destroyed || socket.readableEnded) session.lost(peer, false);
  }
  return { done };
}

/** Sends the last bytes, then closes once they are flushed (or at once if the socket failed). */
export function endThenDestroy(socket: Socket, last?: Uint8Array): void {
  if (socket.destroyed) return;
  const destroy = () => socket.destroy();
  if (last) socket.end(last, destroy);
  else socket.end(destroy);
  // A peer that stops reading must not keep the socket forever.
  const timer = setTimeout(destroy, LINGER_MS);
  socket.once("close", () => clearTimeout(timer));
}
