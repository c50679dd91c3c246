/**
 * Small socket helpers for the session: graceful close with a bound.
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
