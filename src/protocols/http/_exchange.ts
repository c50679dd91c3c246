/**
 * One request/response exchange on an agent connection, step by step: take the request in (its
 * body buffered up to the limit), decide it (facts, placeholders, the guard), forward it to the
 * upstream, then relay the response, or an upgrade, back. Each step either hands the next what
 * it needs or has ended the exchange itself (answered the agent and completed the receipt
 * through the connection's ledger), so every path ends in exactly one receipt.
 *
 * @module
 */

import type { SessionActions } from "../../core/mod.ts";
import type { After, Exchange, ExchangeContext, RequestTarget } from "./_exchange_context.ts";
import { decideRequest } from "./_request_decision.ts";
import { receiveRequest } from "./_request_intake.ts";
import { clientReplyShape } from "./_respond.ts";
import { relayResponse } from "./_response_relay.ts";
import type { SocketStream } from "./_stream.ts";
import type { UpstreamPool } from "./_upstream.ts";
import { forward } from "./_upstream_request.ts";
import { relayUpgrade } from "./_upgrade_relay.ts";
import { type RequestHead, wantsClose } from "./_wire.ts";

export type { After, ExchangeContext, RequestTarget } from "./_exchange_context.ts";

/**
 * Where {@linkcode exchange} runs: the agent connection and what the gateway lends it. Made once
 * per connection and passed to each of its exchanges, so an exchange allocates none.
 */
export interface ExchangeOptions {
  /** The agent connection the request arrived on; the answer goes back on it. */
  readonly client: SocketStream;
  readonly ctx: ExchangeContext;
  /** Upstream connections, kept alive across exchanges. */
  readonly pool: UpstreamPool;
  /**
   * The connection's ledger (`guard.session()`): whoever made the connection closes it once
   * when the connection ends, which completes any action an exchange left open.
   */
  readonly actions: SessionActions;
}

/**
 * Runs the exchange of the request `head` bound for `req`. Never throws: failures become the
 * protocol's error response.
 *
 * @example
 * ```ts
 * const on: ExchangeOptions = { client, ctx, pool, actions: guard.session() }; // per connection
 * const after = await exchange(head, req, on);
 * if (after === "close") client.closeWrite();
 * ```
 */
export async function exchange(
  head: RequestHead,
  req: RequestTarget,
  options: ExchangeOptions,
): Promise<After> {
  const { client, ctx, pool, actions } = options;
  const limits = ctx.limits();
  const flavor = req.endpoint?.flavor;
  const ex: Exchange = {
    client,
    head,
    req,
    ctx,
    actions,
    limits,
    flavor,
    protocol: flavor?.protocol ?? "https",
    shape: flavor?.replyShape ?? clientReplyShape(head.headers),
    clientClose: wantsClose(head.version, head.headers),
  };
  // A step that returns "keep" or "close" has ended the exchange.
  const receiving = receiveRequest(ex);
  const received = receiving instanceof Promise ? await receiving : receiving;
  if (typeof received === "string") return received;
  const allowed = await decideRequest(ex, received);
  if (typeof allowed === "string") return allowed;
  const forwarded = await forward(ex, pool, received, allowed);
  if (typeof forwarded === "string") return forwarded;
  if (received.upgrade && forwarded.response.status === 101) {
    return await relayUpgrade(ex, forwarded);
  }
  return await relayResponse(ex, pool, forwarded);
}
