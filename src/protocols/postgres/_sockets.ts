/**
 * Small socket helpers for the session: graceful close with a bound, and joining write batches.
 *
 * @module
 */

import type { Socket } from "node:net";

/** Sends the last bytes, then closes once they are flushed (or at once if the socket failed). */
export function endThenDestroy(socket: Socket, last?: Uint8Array): void {
  if (socket.destroyed) return;
  const destroy = () => socket.destroy();
  if (last) socket.end(last, destroy);
  else socket.end(destroy);
  // A peer that stops reading must not keep the socket forever.
  const timer = setTimeout(destroy, 5_000);
  socket.once("close", () => clearTimeout(timer));
}

/** One buffer from several (one write instead of many small ones). */
export function joinBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
