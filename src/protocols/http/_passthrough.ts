/**
 * The blind TCP relay for CONNECT to a host no endpoint claims (`unknown_host = "passthrough"`):
 * nothing inside is parsed or decided, so the receipt records only where it went and the bytes.
 *
 * @module
 */

import type { AgentFacts, NetServices, SessionActions } from "../../core/mod.ts";
import { CONNECT_ESTABLISHED, reply } from "./_respond.ts";
import { ConnStream, pump, type SocketStream } from "./_stream.ts";
import type { Authority } from "./_target.ts";

/** Options for {@linkcode passthrough}. */
export interface PassthroughOptions {
  /** The agent connection's ledger: the pass and its outcome go through it. */
  actions: SessionActions;
  /** The agent that sent the CONNECT. */
  agent: AgentFacts;
  /** The receipt's summary (`CONNECT host:port`); ` (passthrough)` is appended. */
  summary: string;
  /** The gateway's sockets: the upstream is dialled through them. */
  net: Pick<NetServices, "dial">;
}

/**
 * Relays `client` to `target` until either side closes; one receipt with the byte counts.
 *
 * @example
 * ```ts
 * await passthrough(client, { host: "example.com", port: 443 }, {
 *   actions, // the connection's ledger
 *   agent,
 *   summary: "CONNECT example.com:443",
 *   net, // the gateway's sockets
 * });
 * ```
 */
export async function passthrough(
  client: SocketStream,
  target: Authority,
  options: PassthroughOptions,
): Promise<void> {
  const { actions, agent, summary, net } = options;
  let decided = actions.pass({
    protocol: "https",
    endpoint: null,
    agent,
    summary: `${summary} (passthrough)`,
    reason: "no endpoint claims this host; defaults.unknown_host = passthrough",
  });
  // Opaque bytes may change anything: they flow only once the receipt is on disk.
  if (decided.held) decided = await decided.held;
  if (decided.verdict.decision === "deny") {
    await reply(client, {
      status: 403,
      error: "denied",
      reason: decided.verdict.reason,
      rule: null,
      receipt: decided.receipt,
      close: true,
    });
    return;
  }
  let upstream: ConnStream;
  try {
    upstream = new ConnStream(await net.dial(target.host, target.port));
  } catch {
    const reason = `cannot connect to ${target.host}:${target.port}`;
    actions.complete([decided], { upstreamStatus: 502, bytesIn: 0, bytesOut: 0, error: reason });
    await reply(client, {
      status: 502,
      error: "bad_gateway",
      reason,
      receipt: decided.receipt,
      close: true,
    });
    return;
  }
  try {
    await client.write(CONNECT_ESTABLISHED);
  } catch {
    upstream.destroy();
    const closed = { upstreamStatus: null, bytesIn: 0, bytesOut: 0, error: "agent closed" };
    actions.complete([decided], closed);
    return;
  }
  const [bytesIn, bytesOut] = await Promise.all([pump(client, upstream), pump(upstream, client)]);
  upstream.destroy();
  client.destroy();
  actions.complete([decided], { upstreamStatus: null, bytesIn, bytesOut });
}
