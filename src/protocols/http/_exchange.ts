/**
 * One request/response exchange on an agent connection: read the body (up to the buffer limit),
 * build facts, ask the guard, then forward to the upstream and stream the response back, or
 * answer with the deny shape. Every path ends in exactly one receipt.
 *
 * @module
 */

import type { AgentFacts, Decided, Facts } from "../../core/mod.ts";
import type {
  ClientCertificate,
  HttpEndpointRoute,
  HttpProxyContext,
  HttpRequestParts,
  ResponseScrubber,
} from "./context.ts";
import { httpFacts, MethodRejected, PathRejected } from "./facts.ts";
import { clientReplyShape, CONTINUE, RECEIPT_HEADER, reply } from "./_respond.ts";
import { concat, pump, type SocketStream, StreamClosed } from "./_stream.ts";
import { UpstreamError, type UpstreamPool } from "./_upstream.ts";
import { describeUpstreamFailure, isIdempotent } from "./_upstream_failure.ts";
import {
  AGENT_GONE,
  AGENT_GONE_MID_BODY,
  agentLeft,
  gatewayFailed,
  reportFailure,
  reportRetry,
  upstreamFailed,
} from "./_upstream_report.ts";
import { BODY_TIMEOUT, readWithin, sendUpstream } from "./_upstream_retry.ts";
import {
  BodyReader,
  encodeChunk,
  type Framing,
  headerValues,
  HttpParseError,
  LAST_CHUNK,
  requestFraming,
  type RequestHead,
  responseFraming,
  serializeRequestHead,
  serializeResponseHead,
  stripHopByHop,
  wantsClose,
} from "./_wire.ts";

/** Where one request goes, as established by the connection (CONNECT target or absolute URL). */
export interface RequestTarget {
  agent: AgentFacts;
  scheme: "http" | "https";
  host: string;
  port: number;
  /** Origin-form target to normalise (`/path?query`). */
  target: string;
  /** The endpoint whose rules decide, or `null` for passthrough (no rules, `pass()`). */
  endpoint: HttpEndpointRoute | null;
}

const FRAMING = new Set(["content-length", "transfer-encoding"]);
const SET_BY_GATEWAY = new Set(["host", "expect", "content-length", "transfer-encoding"]);

/** What one exchange needs from the gateway (a subset of the proxy's context). */
export type ExchangeContext = Pick<
  HttpProxyContext,
  "guard" | "limits" | "log" | "credentials" | "upstreamFailed" | "upstreamRetried"
>;

/** Whether the agent connection can carry another request after this one. */
export type After = "keep" | "close";

/** Runs one exchange. Never throws: failures become the protocol's error response. */
export async function exchange(
  client: SocketStream,
  head: RequestHead,
  req: RequestTarget,
  ctx: ExchangeContext,
  pool: UpstreamPool,
): Promise<After> {
  const limits = ctx.limits();
  const flavor = req.endpoint?.flavor;
  const protocol = flavor?.protocol ?? "https";
  const shape = flavor?.replyShape ?? clientReplyShape(head.headers);
  const clientClose = wantsClose(head.version, head.headers);
  let framing: Framing;
  try {
    framing = requestFraming(head);
  } catch (err) {
    return await refuse(client, ctx, req, head, err as HttpParseError, true);
  }
  const upgrade = isUpgrade(head, flavor?.upgrades ?? WEBSOCKET_ONLY);
  // kubectl's SPDY exec is a POST with `Content-Length: 0`: no body, so nothing to smuggle.
  if (upgrade && framing.kind === "length" && framing.length === 0) framing = { kind: "none" };
  if (upgrade && framing.kind !== "none") {
    return await refuse(client, ctx, req, head, bad(400, "Upgrade request with a body"), true);
  }
  const expect = headerValues(head.headers, "expect");
  if (expect.length > 0) {
    if (expect.length > 1 || expect[0].toLowerCase() !== "100-continue") {
      return await refuse(client, ctx, req, head, bad(417, "Unsupported Expect"), true);
    }
    // The gateway decides on the body, so it asks for it instead of passing the wait upstream.
    if (framing.kind !== "none") await client.write(CONTINUE).catch(() => {});
  }

  // Buffer the body up to the limit; the rest streams after the decision.
  const body = new BodyReader(framing);
  const buffered: Uint8Array[] = [];
  let bufferedBytes = 0;
  while (!body.done && bufferedBytes < limits.bodyBufferBytes) {
    const chunk = await readWithin(client, limits.headerTimeoutMs);
    if (chunk === "timeout") {
      return await refuse(client, ctx, req, head, bad(408, BODY_TIMEOUT), true);
    }
    if (chunk === null) return "close"; // The agent gave up before the request was complete.
    let r;
    try {
      r = body.push(chunk);
    } catch (err) {
      return await refuse(client, ctx, req, head, asParseError(err), true);
    }
    for (const d of r.data) {
      buffered.push(d);
      bufferedBytes += d.length;
    }
    if (r.consumed < chunk.length) client.unread(chunk.subarray(r.consumed));
  }
  const truncated = !body.done;
  const all = concat(buffered, bufferedBytes);
  const seen = all.length > limits.bodyBufferBytes ? all.subarray(0, limits.bodyBufferBytes) : all;

  let facts;
  try {
    facts = httpFacts({
      method: head.method,
      scheme: req.scheme,
      host: req.host,
      port: req.port,
      target: req.target,
      headers: head.headers,
      body: seen,
      bodyTruncated: truncated,
      allowEncodedSlash: req.endpoint?.allowEncodedSlash ?? false,
      allowDoubleEncoding: req.endpoint?.allowDoubleEncoding,
      allowPathParams: req.endpoint?.allowPathParams,
      allowMethodOverride: req.endpoint?.allowMethodOverride,
    });
  } catch (err) {
    if (err instanceof PathRejected || err instanceof MethodRejected) {
      return await refuse(client, ctx, req, head, bad(400, err.message), truncated);
    }
    ctx.log("error", `facts failed: ${err}`, { agent: req.agent.name });
    return await refuse(client, ctx, req, head, bad(400, "request could not be parsed"), true);
  }

  // Placeholders are found before the decision (rules and receipts see where they sat) and
  // secrets swapped in after it, so a denied request never has a secret in it.
  const parts: HttpRequestParts = {
    headers: forwardable(head, upgrade, flavor?.dropHeaders ?? []),
    target: facts.upstreamTarget,
    body: all,
    bodyTruncated: truncated,
    contentType: headerValues(head.headers, "content-type")[0],
  };
  const credentials = ctx.credentials
    ? await ctx.credentials(req.agent, req.endpoint?.name ?? null, parts)
    : null;
  if (credentials) {
    facts.facts.placeholders = credentials.placeholders;
    facts.facts.misplaced_placeholders = credentials.misplaced;
    facts.facts.unknown_placeholders = credentials.unknown;
    if (credentials.refusal !== null) {
      const receipt = ctx.guard.refuse({
        protocol,
        endpoint: req.endpoint?.name ?? null,
        agent: req.agent,
        summary: facts.summary,
        reason: credentials.refusal,
        facts: { http: facts.facts },
      });
      const close = clientClose || truncated;
      await reply(client, {
        status: 403,
        error: "denied",
        reason: credentials.refusal,
        rule: null,
        receipt,
        close,
        shape,
      });
      return close ? "close" : "keep";
    }
  }

  // Another HTTP-based protocol adds its facts on top of http's (after placeholders were found,
  // so rules see them); a request it cannot make sense of is refused, never decided blind.
  let actionFacts: Facts = { http: facts.facts };
  let unknown: readonly string[] = facts.unknown;
  let summary = facts.summary;
  if (flavor) {
    try {
      const composed = flavor.facts(facts.facts);
      actionFacts = composed.facts;
      unknown = [...facts.unknown, ...(composed.unknown ?? [])];
      summary = composed.summary;
    } catch (err) {
      ctx.log("warn", `${protocol} facts failed: ${(err as Error).message}`, {
        agent: req.agent.name,
      });
      return await refuse(client, ctx, req, head, bad(400, "request could not be parsed"), true);
    }
  }

  let decided: Decided = req.endpoint
    ? ctx.guard.decide({
      protocol,
      endpoint: req.endpoint.name,
      agent: req.agent,
      facts: actionFacts,
      unknown,
      summary,
    }, { signal: client.goneSignal() })
    : ctx.guard.pass({
      protocol: "https",
      endpoint: null,
      agent: req.agent,
      summary: `${facts.summary} (passthrough)`,
      reason: "no endpoint claims this host; defaults.unknown_host = passthrough",
      facts: { http: facts.facts },
    });
  // Held for approval: the agent simply waits; if it goes away, the approval is cancelled.
  // An approval hold (provisional deny) can outlast the upstream's idle timeout; a wait for
  // the receipt to be on disk (an allow, held) takes milliseconds and keeps pooled connections.
  const approvalHold = decided.held !== undefined && decided.verdict.decision === "deny";
  if (decided.held) decided = await decided.held;
  if (decided.verdict.decision === "deny") {
    const close = clientClose || truncated;
    await reply(client, {
      status: 403,
      error: "denied",
      reason: decided.verdict.reason,
      rule: decided.verdict.rule,
      receipt: decided.receipt,
      close,
      shape,
    });
    return close ? "close" : "keep";
  }

  // Forward exactly what was decided: canonical method, normalised target, our Host, and the
  // credentials the gateway holds in place of their placeholders.
  let out = parts;
  let scrubber: ResponseScrubber | null = null;
  if (credentials) {
    try {
      out = credentials.apply();
      scrubber = credentials.scrubber();
    } catch (err) {
      ctx.log("error", `credential injection failed: ${(err as Error).message}`, {
        agent: req.agent.name,
      });
      const failure = new UpstreamError("protocol", "credential injection failed");
      return await gatewayFailed(client, decided, { err: failure, bytesIn: 0, close: true, shape });
    }
  }
  const hostHeader = defaultPort(req.scheme) === req.port ? req.host : `${req.host}:${req.port}`;
  const outHeaders: [string, string][] = [["Host", hostHeader]];
  for (const h of out.headers) {
    // A response the gateway must scrub has to arrive uncompressed: ask for identity.
    if (scrubber && h[0].toLowerCase() === "accept-encoding") continue;
    outHeaders.push(h);
  }
  const sentBody = out.body;
  if (framing.kind === "length") {
    // Substitution may change the buffered part's length; the rest streams unchanged.
    const length = framing.length - all.length + sentBody.length;
    outHeaders.push(["Content-Length", String(length)]);
  }
  if (framing.kind === "chunked") outHeaders.push(["Transfer-Encoding", "chunked"]);
  if (upgrade) outHeaders.push(["Connection", "Upgrade"]);
  const requestHead = serializeRequestHead(facts.method, out.target, outHeaders);
  const bodyBytes = framing.kind === "chunked"
    ? (sentBody.length > 0 ? encodeChunk(sentBody) : new Uint8Array(0))
    : sentBody;
  const first = concat(
    [
      requestHead,
      bodyBytes,
      ...(framing.kind === "chunked" && !truncated ? [LAST_CHUNK] : []),
    ].filter((b) => b.length > 0),
  );
  let bytesIn = all.length;
  let bytesOut = 0;
  const scope = { protocol, endpoint: req.endpoint?.name ?? null, agent: req.agent.name };
  const failed = (err: unknown, close: boolean, notResent?: string) =>
    upstreamFailed(client, ctx, { decided, err, bytesIn, close, shape, scope, notResent });

  const sent = await sendUpstream({
    pool,
    target: upstreamOf(req, credentials?.clientCertificate ?? undefined),
    // A pooled connection is likeliest to have been closed by the upstream after a long
    // approval wait, and a POST failing on one could not be resent.
    fresh: approvalHold,
    first,
    firstHasBody: sentBody.length > 0,
    client,
    rest: truncated ? { body, framing } : null,
    method: facts.method,
    idempotent: isIdempotent(facts.method, facts.facts.effective_method),
    stallMs: limits.headerTimeoutMs,
    upstreamTimeoutMs: limits.upstreamTimeoutMs,
    onRetry: (cause) => reportRetry(ctx, scope, cause),
  });
  bytesIn += sent.streamedBytes;
  if (sent.kind === "body_timeout") {
    decided.finish({ upstreamStatus: null, bytesIn, bytesOut: 0, error: BODY_TIMEOUT });
    await reply(client, {
      status: 408,
      error: "request_timeout",
      reason: BODY_TIMEOUT,
      receipt: decided.receipt,
      close: true,
      shape,
    });
    return "close";
  }
  if (sent.kind === "agent_gone") {
    // Part of the body was forwarded; the upstream got a cut request and no one is left to answer.
    decided.finish({ upstreamStatus: null, bytesIn, bytesOut: 0, error: AGENT_GONE_MID_BODY });
    client.destroy();
    return "close";
  }
  if (sent.kind === "failed") {
    // A failed dial leaves the agent connection as clean as a deny does.
    const close = sent.dialFailed ? truncated || clientClose : true;
    return await failed(sent.error, close, sent.notResent);
  }
  const { lease, response } = sent;

  if (upgrade && response.status === 101) {
    const headers = stripHopByHop(response.headers, ["upgrade"])
      .map(([name, value]): [string, string] => [name, scrubber ? scrubber.text(value) : value]);
    headers.push(["Connection", "Upgrade"], [RECEIPT_HEADER, decided.receipt ?? ""]);
    try {
      await client.write(
        serializeResponseHead(101, response.reason || "Switching Protocols", headers),
      );
    } catch {
      lease.stream.destroy();
      decided.finish({ upstreamStatus: 101, bytesIn, bytesOut, error: AGENT_GONE });
      return "close";
    }
    // From here the connection carries another protocol (WebSocket frames): relay both ways.
    const [up, down] = await Promise.all([pump(client, lease.stream), pump(lease.stream, client)]);
    lease.stream.destroy();
    client.destroy();
    decided.finish({ upstreamStatus: 101, bytesIn: bytesIn + up, bytesOut: down });
    return "close";
  }

  let respFraming: Framing;
  try {
    respFraming = responseFraming(head.method, response);
  } catch (err) {
    lease.stream.destroy();
    return await failed(err, true);
  }
  const scrubBody = scrubber !== null && respFraming.kind !== "none";
  if (scrubBody && !identityEncoded(response.headers)) {
    // Compressed bytes cannot be searched for an echoed secret: refuse rather than pass them.
    lease.stream.destroy();
    const why = "upstream sent a compressed response the gateway cannot check for credentials";
    return await failed(new UpstreamError("protocol", why), true);
  }
  // Close-delimited upstream bodies are re-framed as chunked so the agent connection survives;
  // so are scrubbed bodies, whose length changes when a secret is replaced.
  const reframe = respFraming.kind === "close" || (scrubBody && respFraming.kind === "length");
  const chunkOut = respFraming.kind === "chunked" || (reframe && head.version === "HTTP/1.1");
  const closeOut = clientClose || (reframe && !chunkOut);
  const headers = stripHopByHop(response.headers).filter(([name]) =>
    !FRAMING.has(name.toLowerCase())
  ).map(([name, value]): [string, string] => [name, scrubber ? scrubber.text(value) : value]);
  const length = headerValues(response.headers, "content-length")[0];
  // HEAD and 304 keep the length the upstream announced; bodies keep the length they carry.
  if (respFraming.kind === "length" && !scrubBody) {
    headers.push(["Content-Length", String(respFraming.length)]);
  } else if (respFraming.kind === "none" && length !== undefined) {
    headers.push(["Content-Length", length.trim()]);
  }
  if (chunkOut) headers.push(["Transfer-Encoding", "chunked"]);
  if (decided.receipt) headers.push([RECEIPT_HEADER, decided.receipt]);
  if (closeOut) headers.push(["Connection", "close"]);
  try {
    await client.write(serializeResponseHead(response.status, response.reason, headers));
  } catch {
    lease.stream.destroy();
    decided.finish({ upstreamStatus: response.status, bytesIn, bytesOut, error: AGENT_GONE });
    return "close";
  }

  const reader = new BodyReader(respFraming);
  let upstreamClean = reader.done;
  try {
    while (!reader.done) {
      const chunk = await lease.stream.read();
      if (chunk === null) {
        upstreamClean = respFraming.kind === "close";
        if (!upstreamClean) {
          throw new UpstreamError("protocol", "upstream closed mid-response", {
            cause: new StreamClosed(),
          });
        }
        break;
      }
      const r = reader.push(chunk);
      for (const d of r.data) {
        const safe = scrubBody ? scrubber!.push(d) : d;
        if (safe.length === 0) continue; // An empty chunk would end a chunked body.
        bytesOut += safe.length;
        await client.write(chunkOut ? encodeChunk(safe) : safe);
      }
      // Bytes after the response's end are a protocol violation: never reuse that connection.
      if (r.consumed < chunk.length) {
        throw new UpstreamError("protocol", "upstream sent extra bytes");
      }
      if (reader.done) upstreamClean = true;
    }
    if (scrubBody) {
      const tail = scrubber!.end();
      if (tail.length > 0) {
        bytesOut += tail.length;
        await client.write(chunkOut ? encodeChunk(tail) : tail);
      }
    }
    if (chunkOut) await client.write(LAST_CHUNK);
  } catch (err) {
    lease.stream.destroy();
    // Only writes to the agent throw StreamClosed here; the upstream's reads throw its errors.
    const agentGone = err instanceof StreamClosed;
    if (!agentGone) reportFailure(ctx, scope, err);
    decided.finish({
      upstreamStatus: response.status,
      bytesIn,
      bytesOut,
      error: agentGone ? AGENT_GONE : describeUpstreamFailure(err),
    });
    // Headers were sent: the only honest signal left for a broken body is closing.
    client.destroy();
    return "close";
  }
  if (
    upstreamClean && respFraming.kind !== "close" && !wantsClose(response.version, response.headers)
  ) {
    pool.release(lease);
  } else {
    lease.stream.destroy();
  }
  const left = agentLeft(client);
  decided.finish({
    upstreamStatus: response.status,
    bytesIn,
    bytesOut,
    ...(left ? { error: left } : {}),
  });
  if (closeOut) {
    client.closeWrite();
    return "close";
  }
  return "keep";
}

const WEBSOCKET_ONLY = ["websocket"];

/**
 * An upgrade the endpoint's protocol relays (WebSocket; SPDY/3.1 for Kubernetes exec). Other
 * upgrades (h2c above all) are not relayed: after a 101 the gateway passes bytes through
 * undecided, so only a protocol whose opening request was decided may follow. Their Upgrade
 * header is dropped as hop-by-hop and the request goes on as plain HTTP.
 */
function isUpgrade(head: RequestHead, allowed: readonly string[]): boolean {
  const upgrade = headerValues(head.headers, "upgrade");
  if (upgrade.length !== 1 || !allowed.includes(upgrade[0].trim().toLowerCase())) return false;
  return headerValues(head.headers, "connection").some((v) =>
    v.split(",").some((t) => t.trim().toLowerCase() === "upgrade")
  );
}

/** Headers the agent sent that may be forwarded: no hop-by-hop, no framing, no Host. */
function forwardable(
  head: RequestHead,
  upgrade: boolean,
  dropped: readonly string[],
): [string, string][] {
  const kept: [string, string][] = [];
  for (const h of stripHopByHop(head.headers, upgrade ? ["upgrade"] : [])) {
    if (dropped.includes(h[0].toLowerCase())) continue;
    // Framing headers are always the gateway's own, matching the bytes it sends: an agent that
    // names Content-Length in Connection must not get a body forwarded without its length
    // (the upstream would read the body as a second, undecided request).
    if (SET_BY_GATEWAY.has(h[0].toLowerCase())) continue;
    kept.push(h);
  }
  return kept;
}

/** No Content-Encoding, or only `identity`. */
function identityEncoded(headers: [string, string][]): boolean {
  return headerValues(headers, "content-encoding").every((v) =>
    v.split(",").every((t) => t.trim() === "" || t.trim().toLowerCase() === "identity")
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

function bad(status: number, message: string): HttpParseError {
  return new HttpParseError(status as 400, message);
}

function asParseError(err: unknown): HttpParseError {
  return err instanceof HttpParseError ? err : bad(400, "malformed request body");
}

/** Answers a request the gateway refuses before rules (malformed, ambiguous), with a receipt. */
async function refuse(
  client: SocketStream,
  ctx: ExchangeContext,
  req: RequestTarget,
  head: RequestHead,
  err: HttpParseError,
  close: boolean,
): Promise<After> {
  const receipt = ctx.guard.refuse({
    protocol: req.endpoint?.flavor?.protocol ?? "https",
    endpoint: req.endpoint?.name ?? null,
    agent: req.agent,
    summary: `${head.method.slice(0, 16)} ${req.host}${req.target.split("?")[0].slice(0, 120)}`,
    reason: err.message,
  });
  await reply(client, {
    status: err.status,
    error: (err.status as number) === 408 ? "request_timeout" : "bad_request",
    reason: err.message,
    receipt,
    close,
    shape: req.endpoint?.flavor?.replyShape ?? clientReplyShape(head.headers),
  });
  return close ? "close" : "keep";
}
