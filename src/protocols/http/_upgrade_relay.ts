/**
 * An allowed upgrade after the upstream's 101: from then on the connection carries another
 * protocol (WebSocket frames, SPDY for Kubernetes exec), relayed both ways until either side
 * closes. The opening request was decided; its one receipt records the bytes of the whole relay.
 *
 * @module
 */

import type { After, Exchange } from "./_exchange_context.ts";
import { RECEIPT_HEADER } from "./_respond.ts";
import { pump } from "./_stream.ts";
import type { Forwarded } from "./_upstream_request.ts";
import { AGENT_GONE } from "./_upstream_report.ts";
import { serializeResponseHead, stripHopByHop } from "./_wire.ts";

/** Answers the agent's upgrade with the upstream's 101 and relays until both sides are done. */
export async function relayUpgrade(ex: Exchange, forwarded: Forwarded): Promise<After> {
  const { client, actions } = ex;
  const { decided, lease, response, scrubber, bytesIn } = forwarded;
  const headers = stripHopByHop(response.headers, ["upgrade"])
    .map(([name, value]): [string, string] => [name, scrubber ? scrubber.text(value) : value]);
  headers.push(["Connection", "Upgrade"], [RECEIPT_HEADER, decided.receipt ?? ""]);
  try {
    await client.write(
      serializeResponseHead(101, response.reason || "Switching Protocols", headers),
    );
  } catch {
    lease.stream.destroy();
    actions.complete([decided], { upstreamStatus: 101, bytesIn, bytesOut: 0, error: AGENT_GONE });
    return "close";
  }
  const [up, down] = await Promise.all([pump(client, lease.stream), pump(lease.stream, client)]);
  lease.stream.destroy();
  client.destroy();
  actions.complete([decided], { upstreamStatus: 101, bytesIn: bytesIn + up, bytesOut: down });
  return "close";
}
