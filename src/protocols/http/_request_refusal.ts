/**
 * Answering a request the gateway refuses before its rules run (malformed, ambiguous,
 * unsupported), with a receipt naming why.
 *
 * @module
 */

import type { AgentFacts, ProtocolFamily, SessionActions } from "../../core/mod.ts";
import type { After, Exchange } from "./_exchange_context.ts";
import { reply, type ReplyShape } from "./_respond.ts";
import type { ByteWriter } from "./_stream.ts";
import { HttpParseError } from "./_wire.ts";
import { type Refusal, requestRefusal } from "./session.ts";

/** Whose receipt a refusal is and how its reply looks. */
export interface RefusalScope {
  protocol: ProtocolFamily;
  endpoint: string | null;
  agent: AgentFacts | null;
  /** Body shape of the reply (`undefined`: the gateway's JSON). */
  shape?: ReplyShape;
}

/**
 * Records `refusal`'s receipt (through the connection's `actions`), then answers the agent on `client` with the receipt id; closes
 * the connection's write side after when the refusal says so.
 */
export async function answerRefusal(
  client: ByteWriter,
  actions: Pick<SessionActions, "refuse">,
  scope: RefusalScope,
  refusal: Refusal,
): Promise<void> {
  const receipt = actions.refuse({
    protocol: scope.protocol,
    endpoint: scope.endpoint,
    agent: scope.agent,
    summary: refusal.summary,
    reason: refusal.receiptReason,
  });
  await reply(client, {
    status: refusal.status,
    error: refusal.error,
    reason: refusal.reason,
    receipt,
    close: refusal.close,
    shape: scope.shape,
  });
}

/** Answers `refusal` for the exchange's request; `close` or `keep` as the refusal says. */
export async function refuseRequest(ex: Exchange, refusal: Refusal): Promise<After> {
  const scope = {
    protocol: ex.protocol,
    endpoint: ex.req.endpoint?.name ?? null,
    agent: ex.req.agent,
    shape: ex.shape,
  };
  await answerRefusal(ex.client, ex.actions, scope, refusal);
  return refusal.close ? "close" : "keep";
}

/** Records the refusal and answers it with `err`'s status; `close` ends the connection after. */
export async function refuse(ex: Exchange, err: HttpParseError, close: boolean): Promise<After> {
  return await refuseRequest(
    ex,
    requestRefusal(err.status, err.message, requestSummary(ex), close),
  );
}

/** How a receipt names the exchange's request: method, host and path (no query), capped. */
export function requestSummary(ex: Exchange): string {
  const { req, head } = ex;
  return `${head.method.slice(0, 16)} ${req.host}${req.target.split("?")[0].slice(0, 120)}`;
}

/** A refusal with `status` (400, 408, 417) and a message for the agent and the receipt. */
export function bad(status: number, message: string): HttpParseError {
  return new HttpParseError(status as 400, message);
}
