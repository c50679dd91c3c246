/**
 * The forward proxy's open tunnels, held by agent so that revoking or rotating an agent ends its
 * long responses (a Kubernetes watch, a stream) at once, each with a receipt, instead of at its
 * next request.
 *
 * @module
 */

import type { AgentFacts, SessionActions } from "../../core/mod.ts";
import type { HttpEndpointRoute, HttpProxyContext } from "./context.ts";
import type { SocketStream } from "./_stream.ts";

/** A terminated tunnel. */
export interface OpenTunnel {
  agent: AgentFacts;
  client: SocketStream;
  endpoint: HttpEndpointRoute;
  /** The connection's ledger: the ending is recorded there. */
  actions: SessionActions;
  /** Set when the gateway ended it: why, for its ledger. */
  ended: string | null;
}

/** The tunnels open now. */
export class OpenTunnels {
  readonly #open = new Set<OpenTunnel>();

  add(tunnel: OpenTunnel): void {
    this.#open.add(tunnel);
  }

  delete(tunnel: OpenTunnel): void {
    this.#open.delete(tunnel);
  }

  /** Ends, each with a receipt, the tunnels whose agent's credentials no longer hold. */
  endRevoked(ctx: Pick<HttpProxyContext, "agentStanding" | "log" | "sessionEnded">): void {
    for (const open of this.#open) {
      const standing = ctx.agentStanding?.(open.agent) ?? "active";
      if (standing === "active" || open.ended !== null) continue;
      open.ended = standing === "revoked" ? "agent revoked" : "agent token rotated";
      open.actions.refuse({
        protocol: open.endpoint.flavor?.protocol ?? "https",
        endpoint: open.endpoint.name,
        agent: open.agent,
        summary: "session ended",
        reason: open.ended,
      });
      ctx.log("info", `proxy tunnel closed: agent ${standing}`, {
        agent: open.agent.name,
        endpoint: open.endpoint.name,
      });
      open.client.destroy();
      ctx.sessionEnded?.(standing);
    }
  }
}
