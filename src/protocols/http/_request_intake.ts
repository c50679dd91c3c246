/**
 * Taking a request in before it is decided: how its body is framed, whether it is an upgrade the
 * endpoint may relay, `Expect: 100-continue`, and its body buffered up to the limit for rules to
 * read (the rest streams upstream after the decision).
 *
 * @module
 */

import type { After, Exchange } from "./_exchange_context.ts";
import { asParseError, bad, refuse } from "./_request_refusal.ts";
import { CONTINUE } from "./_respond.ts";
import { joinBytes } from "../../core/mod.ts";
import { BODY_TIMEOUT, readWithin } from "./_upstream_retry.ts";
import {
  BodyReader,
  type Framing,
  headerValues,
  type HttpParseError,
  requestFraming,
  type RequestHead,
} from "./_wire.ts";

/** A request taken in: its framing and the buffered start of its body. */
export interface ReceivedRequest {
  framing: Framing;
  /** An upgrade the endpoint's protocol relays once the request is allowed. */
  upgrade: boolean;
  /** The body's reader, past the buffered part. */
  body: BodyReader;
  /** The buffered body bytes. */
  buffered: Uint8Array;
  /** What rules read of the body: the buffered bytes, at most the buffer limit. */
  seen: Uint8Array;
  /** The body goes on past the buffered part. */
  truncated: boolean;
}

const WEBSOCKET_ONLY = ["websocket"];

/** Takes the request in, or refuses it (answered, with a receipt). */
export async function receiveRequest(ex: Exchange): Promise<ReceivedRequest | After> {
  let framing: Framing;
  try {
    framing = requestFraming(ex.head);
  } catch (err) {
    return await refuse(ex, err as HttpParseError, true);
  }
  const upgrade = isUpgrade(ex.head, ex.flavor?.upgrades ?? WEBSOCKET_ONLY);
  // kubectl's SPDY exec is a POST with `Content-Length: 0`: no body, so nothing to smuggle.
  if (upgrade && framing.kind === "length" && framing.length === 0) framing = { kind: "none" };
  if (upgrade && framing.kind !== "none") {
    return await refuse(ex, bad(400, "Upgrade request with a body"), true);
  }
  const expect = headerValues(ex.head.headers, "expect");
  if (expect.length > 0) {
    if (expect.length > 1 || expect[0].toLowerCase() !== "100-continue") {
      return await refuse(ex, bad(417, "Unsupported Expect"), true);
    }
    // The gateway decides on the body, so it asks for it instead of passing the wait upstream.
    if (framing.kind !== "none") await ex.client.write(CONTINUE).catch(() => {});
  }
  return await bufferBody(ex, framing, upgrade);
}

/** Buffers the body up to the limit; the rest streams after the decision. */
async function bufferBody(
  ex: Exchange,
  framing: Framing,
  upgrade: boolean,
): Promise<ReceivedRequest | After> {
  const limit = ex.limits.bodyBufferBytes;
  const body = new BodyReader(framing);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  while (!body.done && bytes < limit) {
    const chunk = await readWithin(ex.client, ex.limits.headerTimeoutMs);
    if (chunk === "timeout") return await refuse(ex, bad(408, BODY_TIMEOUT), true);
    if (chunk === null) return "close"; // The agent gave up before the request was complete.
    let r;
    try {
      r = body.push(chunk);
    } catch (err) {
      return await refuse(ex, asParseError(err), true);
    }
    for (const d of r.data) {
      chunks.push(d);
      bytes += d.length;
    }
    if (r.consumed < chunk.length) ex.client.unread(chunk.subarray(r.consumed));
  }
  const truncated = !body.done;
  const buffered = joinBytes(chunks);
  const seen = buffered.length > limit ? buffered.subarray(0, limit) : buffered;
  return { framing, upgrade, body, buffered, seen, truncated };
}

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
