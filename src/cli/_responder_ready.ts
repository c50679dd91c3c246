/**
 * Waits for the gateway's DNS responder to answer before an isolated command starts: a responder
 * whose address became local a moment ago (the root step just added the route) listens within a
 * second, and a command whose first lookup came before would fail it.
 *
 * @module
 */

import dgram from "node:dgram";

/** A DNS query (A, `clawpatrol-ready.invalid`): any answer means the responder is up. */
const PROBE = Uint8Array.from([
  0x43,
  0x50,
  0x01,
  0x00,
  0x00,
  0x01,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  16,
  ..."clawpatrol-ready".split("").map((c) => c.charCodeAt(0)),
  7,
  ..."invalid".split("").map((c) => c.charCodeAt(0)),
  0x00,
  0x00,
  0x01,
  0x00,
  0x01,
]);

/**
 * Whether the responder at `host:port` answered within `timeoutMs`, asking every `everyMs`.
 *
 * @example
 * ```ts
 * if (!await responderReady("10.79.0.1", 53, 5_000)) console.error("no DNS from the gateway");
 * ```
 */
export function responderReady(
  host: string,
  port: number,
  timeoutMs: number,
  everyMs = 100,
): Promise<boolean> {
  const socket = dgram.createSocket("udp4");
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (ready: boolean) => {
      if (done) return;
      done = true;
      clearInterval(asking);
      clearTimeout(giveUp);
      socket.close();
      resolve(ready);
    };
    socket.on("message", () => finish(true));
    // Nothing listening yet: the port is unreachable; keep asking until the deadline.
    socket.on("error", () => {});
    const ask = () => socket.send(PROBE, port, host, () => {});
    const asking = setInterval(ask, everyMs);
    const giveUp = setTimeout(() => finish(false), timeoutMs);
    // From the responder's own address (local by now): the only address the grant names.
    socket.bind(0, host, ask);
  });
}
