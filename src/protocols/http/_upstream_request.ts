/**
 * Forwarding a decided request: exactly what was decided (canonical method, normalised target,
 * the gateway's own Host and framing, and the credentials it holds in place of their
 * placeholders), sent on a pooled or fresh connection, up to the response head. Each way this
 * can end before a response arrives is answered and recorded here.
 *
 * @module
 */

import type { Decided } from "../../core/mod.ts";
import type { ClientCertificate, HttpRequestParts, ResponseScrubber } from "./context.ts";
import { type After, type Exchange, reportScope, type RequestTarget } from "./_exchange_context.ts";
import type { AllowedRequest } from "./_request_decision.ts";
import type { ReceivedRequest } from "./_request_intake.ts";
import { reply } from "./_respond.ts";
import { EMPTY_BYTES, joinBytes } from "../../core/mod.ts";
import { UpstreamError, type UpstreamLease, type UpstreamPool } from "./_upstream.ts";
import { isIdempotent } from "./_upstream_failure.ts";
import {
  AGENT_GONE_MID_BODY,
  gatewayFailed,
  reportRetry,
  upstreamFailed,
} from "./_upstream_report.ts";
import { sendUpstream } from "./_upstream_retry.ts";
import { BODY_TIMEOUT } from "./session.ts";
import { encodeChunk, LAST_CHUNK, type ResponseHead, serializeRequestHead } from "./_wire.ts";

/** The upstream's response head, with what relaying it needs. */
export interface Forwarded {
  decided: Decided;
  lease: UpstreamLease;
  response: ResponseHead;
  /** Replaces echoed secrets in the response, when the endpoint holds any. */
  scrubber: ResponseScrubber | null;
  /** Request body bytes taken from the agent. */
  bytesIn: number;
}

/** Sends the allowed request upstream and reads the response head, or ends the exchange. */
export async function forward(
  ex: Exchange,
  pool: UpstreamPool,
  received: ReceivedRequest,
  allowed: AllowedRequest,
): Promise<Forwarded | After> {
  const { decided, facts } = allowed;
  const injected = await injectCredentials(ex, allowed);
  if (typeof injected === "string") return injected;
  const { out, scrubber } = injected;
  const scope = reportScope(ex);
  const sent = await sendUpstream({
    pool,
    target: upstreamOf(ex.req, allowed.credentials?.clientCertificate ?? undefined),
    // A pooled connection is likeliest to have been closed by the upstream after a long
    // approval wait, and a POST failing on one could not be resent.
    fresh: allowed.approvalHold,
    first: requestBytes(received, out, {
      req: ex.req,
      method: facts.method,
      scrubbed: scrubber !== null,
    }),
    firstHasBody: out.body.length > 0,
    client: ex.client,
    rest: received.truncated ? { body: received.body, framing: received.framing } : null,
    method: facts.method,
    idempotent: isIdempotent(facts.method, facts.facts.effective_method),
    stallMs: ex.limits.headerTimeoutMs,
    upstreamTimeoutMs: ex.limits.upstreamTimeoutMs,
    onRetry: (cause) => reportRetry(ex.ctx, scope, cause),
  });
  const bytesIn = received.buffered.length + sent.streamedBytes;
  switch (sent.kind) {
    case "body_timeout":
      ex.actions.complete([decided], {
        upstreamStatus: null,
        bytesIn,
        bytesOut: 0,
        error: BODY_TIMEOUT,
      });
      await reply(ex.client, {
        status: 408,
        error: "request_timeout",
        reason: BODY_TIMEOUT,
        receipt: decided.receipt,
        close: true,
        shape: ex.shape,
      });
      return "close";
    case "agent_gone":
      // Part of the body was forwarded; the upstream got a cut request and no one is left to
      // answer.
      ex.actions.complete([decided], {
        upstreamStatus: null,
        bytesIn,
        bytesOut: 0,
        error: AGENT_GONE_MID_BODY,
      });
      ex.client.destroy();
      return "close";
    case "failed": {
      // A failed dial leaves the agent connection as clean as a deny does.
      const close = sent.dialFailed ? received.truncated || ex.clientClose : true;
      const { error: err, notResent } = sent;
      return await upstreamFailed(ex.client, ex.ctx, {
        actions: ex.actions,
        decided,
        err,
        bytesIn,
        close,
        shape: ex.shape,
        scope,
        notResent,
      });
    }
  }
  return { decided, lease: sent.lease, response: sent.response, scrubber, bytesIn };
}

/**
 * The request as forwarded, with the secrets the gateway holds in place of their placeholders
 * (only now, after the decision), and the scrubber for its response. A failed injection is
 * answered as the gateway's own 502.
 */
async function injectCredentials(
  ex: Exchange,
  allowed: AllowedRequest,
): Promise<{ out: HttpRequestParts; scrubber: ResponseScrubber | null } | After> {
  if (!allowed.credentials) return { out: allowed.parts, scrubber: null };
  try {
    return { out: await allowed.credentials.apply(), scrubber: allowed.credentials.scrubber() };
  } catch (err) {
    ex.ctx.log("error", `credential injection failed: ${(err as Error).message}`, {
      agent: ex.req.agent.name,
    });
    const failure = new UpstreamError("protocol", "credential injection failed");
    return await gatewayFailed(ex.client, allowed.decided, {
      actions: ex.actions,
      err: failure,
      bytesIn: 0,
      close: true,
      shape: ex.shape,
    });
  }
}

/** Where {@linkcode requestBytes} sends the request, and how. */
interface RequestBytesOptions {
  /** The upstream the request goes to (its Host header). */
  req: RequestTarget;
  /** The method sent. */
  method: string;
  /** Whether the response will be scrubbed, so must come uncompressed. */
  scrubbed: boolean;
}

/**
 * The request head and the buffered body, framed as the gateway sends them. A response the
 * gateway must scrub has to arrive uncompressed, so `scrubbed` drops Accept-Encoding (identity).
 */
function requestBytes(
  received: ReceivedRequest,
  out: HttpRequestParts,
  { req, method, scrubbed }: RequestBytesOptions,
): Uint8Array {
  const { framing, truncated } = received;
  const hostHeader = defaultPort(req.scheme) === req.port ? req.host : `${req.host}:${req.port}`;
  const headers: [string, string][] = [["Host", hostHeader]];
  for (const h of out.headers) {
    if (scrubbed && h[0].toLowerCase() === "accept-encoding") continue;
    headers.push(h);
  }
  const body = out.body;
  if (framing.kind === "length") {
    // Substitution may change the buffered part's length; the rest streams unchanged.
    const length = framing.length - received.buffered.length + body.length;
    headers.push(["Content-Length", String(length)]);
  }
  if (framing.kind === "chunked") headers.push(["Transfer-Encoding", "chunked"]);
  if (received.upgrade) headers.push(["Connection", "Upgrade"]);
  const head = serializeRequestHead(method, out.target, headers);
  const bodyBytes = framing.kind === "chunked"
    ? (body.length > 0 ? encodeChunk(body) : EMPTY_BYTES)
    : body;
  return joinBytes(
    [head, bodyBytes, ...(framing.kind === "chunked" && !truncated ? [LAST_CHUNK] : [])]
      .filter((b) => b.length > 0),
  );
}

function defaultPort(scheme: "http" | "https"): number {
  return scheme === "https" ? 443 : 80;
}

function upstreamOf(req: RequestTarget, clientCert: ClientCertificate | undefined) {
  const override = req.endpoint?.upstream;
  let dialHost = req.host;
  let dialPort = req.port;
  if (override) {
    const at = override.lastIndexOf(":");
    dialHost = override.slice(0, at).replace(/^\[(.*)\]$/, "$1");
    dialPort = Number(override.slice(at + 1));
  }
  return {
    dialHost,
    dialPort,
    serverName: req.host,
    tls: req.scheme === "https",
    // Upstream connections are never shared between agents: a misbehaving upstream that sends
    // an extra response can then only confuse the agent that provoked it.
    owner: req.agent.name,
    caCert: req.endpoint?.caCert,
    clientCert,
  };
}
