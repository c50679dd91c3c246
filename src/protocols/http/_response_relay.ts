/**
 * Relaying the upstream's response to the agent: framed so the agent connection survives,
 * scrubbed of echoed secrets when the endpoint holds any, and the upstream connection pooled
 * again only after a clean, complete response. Once the head is sent, a broken body can only be
 * signalled by closing.
 *
 * @module
 */

import { type After, type Exchange, reportScope } from "./_exchange_context.ts";
import { RECEIPT_HEADER } from "./_respond.ts";
import { StreamClosed } from "./_stream.ts";
import { UpstreamError, type UpstreamPool } from "./_upstream.ts";
import { describeUpstreamFailure } from "./_upstream_failure.ts";
import type { Forwarded } from "./_upstream_request.ts";
import { AGENT_GONE, agentLeft, reportFailure, upstreamFailed } from "./_upstream_report.ts";
import {
  BodyReader,
  chunkFraming,
  type Framing,
  headerValues,
  LAST_CHUNK,
  lowerName,
  responseFraming,
  serializeResponseHead,
  stripHopByHop,
  wantsClose,
} from "./_wire.ts";

const FRAMING = new Set(["content-length", "transfer-encoding"]);

/** How the response's body reaches the agent. */
interface Relay {
  /** The upstream's framing of the body. */
  framing: Framing;
  /** The body passes through the scrubber. */
  scrub: boolean;
  /** The agent gets the body chunked. */
  chunkOut: boolean;
  /** The agent connection closes after the response. */
  closeOut: boolean;
  /** A scrubbed body that came whole with its head: sent as it is, with its length. */
  whole: Uint8Array | null;
}

/** Relays the response head and body, then settles the receipt and both connections. */
export async function relayResponse(
  ex: Exchange,
  pool: UpstreamPool,
  forwarded: Forwarded,
): Promise<After> {
  const { decided, lease, response, bytesIn } = forwarded;
  const planned = planRelay(ex, forwarded);
  const relay = planned instanceof Promise ? await planned : planned;
  if (typeof relay === "string") return relay;
  const headers = responseHeaders(forwarded, relay);
  const head = serializeResponseHead(response.status, response.reason, headers);
  const streamed = await relayBody(ex, forwarded, relay, head);
  if (typeof streamed === "string") return streamed;
  if (
    streamed.upstreamClean && relay.framing.kind !== "close" &&
    !wantsClose(response.version, response.headers)
  ) {
    pool.release(lease);
  } else {
    lease.stream.destroy();
  }
  const left = agentLeft(ex.client);
  ex.actions.complete([decided], {
    upstreamStatus: response.status,
    bytesIn,
    bytesOut: streamed.bytesOut,
    ...(left ? { error: left } : {}),
  });
  if (relay.closeOut) {
    ex.client.closeWrite();
    return "close";
  }
  return "keep";
}

/**
 * How the body goes out; a response that cannot be relayed faithfully is the gateway's 502 (a
 * promise: only the refusal waits on anything).
 */
function planRelay(ex: Exchange, forwarded: Forwarded): Relay | Promise<After> {
  const { lease, response, scrubber } = forwarded;
  const failed = (err: unknown) =>
    upstreamFailed(ex.client, ex.ctx, {
      actions: ex.actions,
      decided: forwarded.decided,
      err,
      bytesIn: forwarded.bytesIn,
      close: true,
      shape: ex.shape,
      scope: reportScope(ex),
    });
  let framing: Framing;
  try {
    framing = responseFraming(ex.head.method, response);
  } catch (err) {
    lease.stream.destroy();
    return failed(err);
  }
  const scrub = scrubber !== null && framing.kind !== "none";
  if (scrub && !identityEncoded(response.headers)) {
    // Compressed bytes cannot be searched for an echoed secret: refuse rather than pass them.
    lease.stream.destroy();
    const why = "upstream sent a compressed response the gateway cannot check for credentials";
    return failed(new UpstreamError("protocol", why));
  }
  // A scrubbed body that came whole with its head (most small responses) is scrubbed at once and
  // keeps a length, now its scrubbed one: no re-chunking, and one write to the agent.
  const body = scrub && framing.kind === "length" ? lease.stream.takeExactly(framing.length) : null;
  if (body !== null) {
    return {
      framing,
      scrub,
      chunkOut: false,
      closeOut: ex.clientClose,
      whole: scrubber!.whole(body),
    };
  }
  // Close-delimited upstream bodies are re-framed as chunked so the agent connection survives;
  // so are scrubbed bodies, whose length changes when a secret is replaced.
  const reframe = framing.kind === "close" || (scrub && framing.kind === "length");
  const chunkOut = framing.kind === "chunked" || (reframe && ex.head.version === "HTTP/1.1");
  const closeOut = ex.clientClose || (reframe && !chunkOut);
  return { framing, scrub, chunkOut, closeOut, whole: null };
}

/** The response head's fields as the agent gets them. */
function responseHeaders(forwarded: Forwarded, relay: Relay): [string, string][] {
  const { response, scrubber, decided } = forwarded;
  const headers = stripHopByHop(response.headers).filter(([name]) => !FRAMING.has(lowerName(name)))
    .map(([name, value]): [string, string] => [name, scrubber ? scrubber.text(value) : value]);
  const length = headerValues(response.headers, "content-length")[0];
  // HEAD and 304 keep the length the upstream announced; bodies keep the length they carry.
  if (relay.whole !== null) {
    headers.push(["Content-Length", String(relay.whole.length)]);
  } else if (relay.framing.kind === "length" && !relay.scrub) {
    headers.push(["Content-Length", String(relay.framing.length)]);
  } else if (relay.framing.kind === "none" && length !== undefined) {
    headers.push(["Content-Length", length.trim()]);
  }
  if (relay.chunkOut) headers.push(["Transfer-Encoding", "chunked"]);
  if (decided.receipt) headers.push([RECEIPT_HEADER, decided.receipt]);
  if (relay.closeOut) headers.push(["Connection", "close"]);
  return headers;
}

/**
 * Sends the head and streams the body to the agent. On a failure the exchange ends here:
 * recorded, both connections closed (once the head may have left, closing is the only honest
 * signal left).
 *
 * What is ready goes out in one write: the head with the body bytes already read alongside it,
 * and the last chunk with the body's end. Each write to the agent is a TLS record and a system
 * call, the largest single cost of a small response; output is still flushed before every wait
 * on the upstream, so a slow or endless body streams as before.
 */
async function relayBody(
  ex: Exchange,
  forwarded: Forwarded,
  relay: Relay,
  head: Uint8Array,
): Promise<{ bytesOut: number; upstreamClean: boolean } | After> {
  const { lease, scrubber } = forwarded;
  const reader = new BodyReader(relay.framing);
  // A whole body was taken from the upstream's stream already: nothing is left to read.
  let upstreamClean = reader.done || relay.whole !== null;
  let bytesOut = 0;
  let ready: Uint8Array[] = [head];
  const send = (bytes: Uint8Array) => {
    bytesOut += bytes.length;
    if (!relay.chunkOut) {
      ready.push(bytes);
      return;
    }
    // Framed in pieces: `flush` writes everything ready as one write.
    const { head, end } = chunkFraming(bytes.length);
    ready.push(head, bytes, end);
  };
  const flush = async () => {
    if (ready.length === 0) return;
    const out = ready;
    ready = [];
    await ex.client.writeParts(out);
  };
  // An idle stream (a watch with no events) must not outlive its agent: a connection lost both
  // ways (cut by a revocation, reset) ends the relay at once, not at the next event's write,
  // by closing the upstream connection under the pending read.
  let agentLost = false;
  const unwatch = ex.client.onLost(() => {
    agentLost = true;
    lease.stream.destroy();
  });
  try {
    if (relay.whole !== null) {
      if (relay.whole.length > 0) send(relay.whole);
      await flush();
      return { bytesOut, upstreamClean };
    }
    while (!reader.done) {
      if (!lease.stream.buffered) await flush();
      const chunk = await lease.stream.read();
      if (agentLost) throw new StreamClosed("agent connection lost");
      if (chunk === null) {
        upstreamClean = relay.framing.kind === "close";
        if (!upstreamClean) {
          throw new UpstreamError("protocol", "upstream closed mid-response", {
            cause: new StreamClosed(),
          });
        }
        break;
      }
      const r = reader.push(chunk);
      for (const d of r.data) {
        const safe = relay.scrub ? scrubber!.push(d) : d;
        if (safe.length === 0) continue; // An empty chunk would end a chunked body.
        send(safe);
      }
      // Bytes after the response's end are a protocol violation: never reuse that connection.
      if (r.consumed < chunk.length) {
        throw new UpstreamError("protocol", "upstream sent extra bytes");
      }
      if (reader.done) upstreamClean = true;
    }
    if (relay.scrub) {
      const tail = scrubber!.end();
      if (tail.length > 0) send(tail);
    }
    if (relay.chunkOut) ready.push(LAST_CHUNK);
    await flush();
  } catch (err) {
    lease.stream.destroy();
    // Only writes to the agent throw StreamClosed here; the upstream's reads throw its errors
    // (once the agent is lost, whatever closing the upstream under its read caused is ours).
    const agentGone = agentLost || err instanceof StreamClosed;
    if (!agentGone) reportFailure(ex.ctx, reportScope(ex), err);
    ex.actions.complete([forwarded.decided], {
      upstreamStatus: forwarded.response.status,
      bytesIn: forwarded.bytesIn,
      bytesOut,
      error: agentGone ? AGENT_GONE : describeUpstreamFailure(err),
    });
    ex.client.destroy();
    return "close";
  } finally {
    unwatch();
  }
  return { bytesOut, upstreamClean };
}

/** No Content-Encoding, or only `identity`. */
function identityEncoded(headers: [string, string][]): boolean {
  return headerValues(headers, "content-encoding").every((v) =>
    v.split(",").every((t) => t.trim() === "" || t.trim().toLowerCase() === "identity")
  );
}
