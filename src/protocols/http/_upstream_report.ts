/**
 * How an exchange ends when the upstream fails, or the agent leaves: the receipt's outcome,
 * the agent's 502/504, one operator log line and the failure metrics.
 *
 * @module
 */

import type { Decided, ProtocolFamily, SessionActions } from "../../core/mod.ts";
import type { HttpProxyContext, UpstreamCause } from "./context.ts";
import { reply, type ReplyShape } from "./_respond.ts";
import type { ByteWriter, SocketStream } from "./_stream.ts";
import { UpstreamError } from "./_upstream.ts";
import { classifyUpstreamFailure, describeUpstreamFailure } from "./_upstream_failure.ts";

/** The receipt's error when the agent left before the whole response was written to it. */
export const AGENT_GONE = "agent went away before the response was delivered";

/**
 * The receipt's error when the agent closed its sending side before the response was complete
 * and the connection is still open: a half-closing agent (`nc -N`) still reads, one that left
 * does not, and the gateway cannot tell which (its writes succeed either way).
 */
export const AGENT_HALF_CLOSED =
  "agent closed its side before the response was complete: delivery not confirmed";

/**
 * Whether the agent left before the whole response was written to it, as the receipt's error.
 * Writes to a socket the agent closed still succeed (the kernel takes them), so a failed write
 * is not the only sign: a receipt must not claim a delivery the gateway cannot vouch for.
 */
export function agentLeft(client: SocketStream): string | undefined {
  if (client.closed) return AGENT_GONE;
  return client.goneSignal().aborted ? AGENT_HALF_CLOSED : undefined;
}

/** The receipt's error when the agent left before its request body was complete. */
export const AGENT_GONE_MID_BODY = "agent went away before its request body was complete";

/** What reporting needs from the gateway. */
export type ReportContext = Pick<HttpProxyContext, "log" | "upstreamFailed" | "upstreamRetried">;

/** Who a failure is reported for. */
export interface ReportScope {
  protocol: ProtocolFamily;
  /** `null`: passthrough traffic. */
  endpoint: string | null;
  agent: string;
}

/**
 * Counts and logs one failed upstream (once per request, whatever the retries), without
 * headers or body: the words logged are the ones the agent sees.
 */
export function reportFailure(ctx: ReportContext, scope: ReportScope, err: unknown): void {
  const cause = classifyUpstreamFailure(err);
  ctx.upstreamFailed?.({ protocol: scope.protocol, endpoint: scope.endpoint, cause });
  ctx.log("warn", `upstream failed (${cause}): ${describeUpstreamFailure(err)}`, {
    agent: scope.agent,
    endpoint: scope.endpoint,
    cause,
  });
}

/** Counts and logs a resend on a fresh connection after a reused one failed. */
export function reportRetry(ctx: ReportContext, scope: ReportScope, cause: UpstreamCause): void {
  ctx.upstreamRetried?.({ protocol: scope.protocol, endpoint: scope.endpoint, cause });
  ctx.log("info", `reused upstream connection failed (${cause}): sending again on a new one`, {
    agent: scope.agent,
    endpoint: scope.endpoint,
    cause,
  });
}

/** Options for {@linkcode upstreamFailed} and {@linkcode gatewayFailed}. */
export interface FailedOptions {
  /** The connection's ledger, which records the outcome. */
  actions: Pick<SessionActions, "complete">;
  decided: Decided;
  err: unknown;
  bytesIn: number;
  /** Close the agent connection after the answer. */
  close: boolean;
  shape: ReplyShape | undefined;
  /** Why the request was not sent again on a fresh connection, when that was considered. */
  notResent?: string;
}

/**
 * Ends an exchange whose upstream failed before a response head reached the agent: reported,
 * recorded with the gateway's own status (504 for a timeout, else 502) and why, and answered.
 */
export async function upstreamFailed(
  client: ByteWriter,
  ctx: ReportContext,
  options: FailedOptions & { scope: ReportScope },
): Promise<"keep" | "close"> {
  reportFailure(ctx, options.scope, options.err);
  return await gatewayFailed(client, options.decided, options);
}

/** Records and answers a 502/504 the gateway made (upstream failure or its own). */
export async function gatewayFailed(
  client: ByteWriter,
  decided: Decided,
  options: Omit<FailedOptions, "decided">,
): Promise<"keep" | "close"> {
  const { actions, err, bytesIn, close, shape, notResent } = options;
  const timeout = err instanceof UpstreamError && err.kind === "timeout";
  const status = timeout ? 504 : 502;
  const reason = describeUpstreamFailure(err);
  actions.complete([decided], {
    upstreamStatus: status,
    bytesIn,
    bytesOut: 0,
    error: notResent ? `${reason}; ${notResent}` : reason,
  });
  await reply(client, {
    status,
    error: timeout ? "upstream_timeout" : "bad_gateway",
    reason,
    receipt: decided.receipt,
    close,
    shape,
  });
  return close ? "close" : "keep";
}
