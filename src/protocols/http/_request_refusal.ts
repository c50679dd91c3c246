/**
 * Answering a request the gateway refuses before its rules run (malformed, ambiguous,
 * unsupported), with a receipt naming why.
 *
 * @module
 */

import type { After, Exchange } from "./_exchange_context.ts";
import { reply } from "./_respond.ts";
import { HttpParseError } from "./_wire.ts";

/** Records the refusal and answers it with `err`'s status; `close` ends the connection after. */
export async function refuse(ex: Exchange, err: HttpParseError, close: boolean): Promise<After> {
  const { req, head } = ex;
  const receipt = ex.ctx.guard.refuse({
    protocol: ex.protocol,
    endpoint: req.endpoint?.name ?? null,
    agent: req.agent,
    summary: `${head.method.slice(0, 16)} ${req.host}${req.target.split("?")[0].slice(0, 120)}`,
    reason: err.message,
  });
  await reply(ex.client, {
    status: err.status,
    error: (err.status as number) === 408 ? "request_timeout" : "bad_request",
    reason: err.message,
    receipt,
    close,
    shape: ex.shape,
  });
  return close ? "close" : "keep";
}

/** A refusal with `status` (400, 408, 417) and a message for the agent and the receipt. */
export function bad(status: number, message: string): HttpParseError {
  return new HttpParseError(status as 400, message);
}

/** The body reader's own error, or a generic 400 for anything else it threw. */
export function asParseError(err: unknown): HttpParseError {
  return err instanceof HttpParseError ? err : bad(400, "malformed request body");
}
