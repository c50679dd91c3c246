/**
 * Sending one decided request upstream and reading its response head, on a pooled connection,
 * and once more on a fresh one when the pooled connection turns out dead before any response
 * byte arrived and sending the request twice cannot do harm.
 *
 * @module
 */

import type { UpstreamCause } from "./context.ts";
import { EMPTY_BYTES, joinBytes } from "../../core/mod.ts";
import { type ByteReader, type SocketStream, StreamClosed } from "./_stream.ts";
import {
  UpstreamError,
  type UpstreamLease,
  type UpstreamPool,
  type UpstreamTarget,
} from "./_upstream.ts";
import { classifyUpstreamFailure } from "./_upstream_failure.ts";
import {
  type BodyReader,
  encodeChunk,
  type Framing,
  LAST_CHUNK,
  parseResponseHead,
  type ResponseHead,
} from "./_wire.ts";
import { type Deadline, deadline } from "../../core/deadlines.ts";

/** What one upstream attempt got through before it failed. */
export interface AttemptProgress {
  /** A write carrying request body bytes was started: the upstream may have some of them. */
  bodySent: boolean;
  /** Body bytes past the buffered part were read from the agent: they cannot be sent again. */
  streamed: boolean;
  /** Response bytes received. */
  responseBytes: number;
}

/**
 * Whether a request that failed on a reused connection may be sent again on a fresh one.
 *
 * Only when nothing came back (a partial answer means the upstream took the request), the
 * failure is the connection's (a timeout or a malformed answer come from an upstream that is
 * alive and may be working on it), every byte can be sent again, and a body the upstream may
 * have received belongs to an idempotent method (RFC 9110 §9.2.2): a POST the upstream read
 * before its connection broke may already have been applied.
 *
 * @example
 * ```ts
 * const clean = { bodySent: false, streamed: false, responseBytes: 0 };
 * mayResend(new Deno.errors.UnexpectedEof("eof"), clean, false); // true
 * mayResend(new Deno.errors.UnexpectedEof("eof"), { ...clean, bodySent: true }, false); // false
 * ```
 */
export function mayResend(err: unknown, progress: AttemptProgress, idempotent: boolean): boolean {
  if (progress.responseBytes > 0 || progress.streamed) return false;
  if (progress.bodySent && !idempotent) return false;
  if (err instanceof UpstreamError) return err.kind !== "timeout" && err.kind !== "protocol";
  return !(err instanceof BodyTimeout || err instanceof AgentGone);
}

/** Options for {@linkcode sendUpstream}. */
export interface SendOptions {
  pool: UpstreamPool;
  target: UpstreamTarget;
  /** Dial a new connection instead of taking a pooled one (after an approval wait). */
  fresh: boolean;
  /** The request head and the buffered body, framed. */
  first: Uint8Array;
  /** Whether `first` carries body bytes. */
  firstHasBody: boolean;
  /** The agent, and its body past the buffered part (`null` when all was buffered). */
  client: SocketStream;
  rest: { body: BodyReader; framing: Framing } | null;
  /** The method sent, and whether sending the request twice has the effect of sending it once. */
  method: string;
  idempotent: boolean;
  /** How long the agent's body may stall. */
  stallMs: number;
  /** How long the upstream may take to start its answer. */
  upstreamTimeoutMs: number;
  /** Called before the one resend, with why the reused connection failed. */
  onRetry(cause: UpstreamCause): void;
}

/** How sending went; `streamedBytes` counts body bytes past the buffered part. */
export type Sent =
  | { kind: "response"; lease: UpstreamLease; response: ResponseHead; streamedBytes: number }
  /**
   * `dialFailed`: no connection could be had (nothing was sent). `notResent`: why a request
   * that failed on a reused connection was not sent again.
   */
  | {
    kind: "failed";
    error: unknown;
    streamedBytes: number;
    dialFailed: boolean;
    notResent?: string;
  }
  | { kind: "body_timeout"; streamedBytes: number }
  | { kind: "agent_gone"; streamedBytes: number };

/**
 * Leases a connection, writes the request (streaming the rest of the body), reads the response
 * head; on a reused connection that failed first, sends once more on a fresh one if
 * {@linkcode mayResend} allows. Never throws.
 */
export async function sendUpstream(options: SendOptions): Promise<Sent> {
  const streamed = { bytes: 0 };
  for (let attempt = 0;; attempt++) {
    let lease: UpstreamLease;
    try {
      lease = await options.pool.acquire(options.target, { fresh: options.fresh || attempt > 0 });
    } catch (error) {
      return { kind: "failed", error, streamedBytes: 0, dialFailed: true };
    }
    const progress: AttemptProgress = { bodySent: false, streamed: false, responseBytes: 0 };
    try {
      progress.bodySent = options.firstHasBody;
      await lease.stream.write(options.first);
      if (options.rest) {
        progress.streamed = true;
        const { client, stallMs } = options;
        await streamRest(options.rest, lease, { client, stallMs, streamed });
      }
      const response = await readResponseHead(lease.stream, options.upstreamTimeoutMs, progress);
      return { kind: "response", lease, response, streamedBytes: streamed.bytes };
    } catch (error) {
      lease.stream.destroy();
      if (error instanceof BodyTimeout) {
        return { kind: "body_timeout", streamedBytes: streamed.bytes };
      }
      if (error instanceof AgentGone) return { kind: "agent_gone", streamedBytes: streamed.bytes };
      const reused = attempt === 0 && lease.reused;
      if (reused && mayResend(error, progress, options.idempotent)) {
        options.onRetry(classifyUpstreamFailure(error));
        continue;
      }
      // Resending was possible but for the body: the receipt says why it was not.
      const unsent = { ...progress, bodySent: false, streamed: false };
      const notResent = reused && mayResend(error, unsent, true)
        ? (progress.streamed
          ? "not sent again: its body was streamed and cannot be replayed"
          : `not sent again: ${options.method} is not idempotent and its body had been sent`)
        : undefined;
      return { kind: "failed", error, streamedBytes: streamed.bytes, dialFailed: false, notResent };
    }
  }
}

/** The agent's body stalled past the limit. */
export class BodyTimeout extends Error {}

/** The agent closed before its body was complete: nothing to send on, no one to answer. */
export class AgentGone extends Error {}

/**
 * One read of the agent's body, or "timeout" when nothing arrives for `stallMs`: a client that
 * stops mid-body (slowloris on the body) must not hold a connection and a decision forever.
 */
export async function readWithin(
  client: SocketStream,
  stallMs: number,
): Promise<Uint8Array | null | "timeout"> {
  let expired = false;
  const timer = deadline(stallMs, () => {
    expired = true;
    client.wakeWithTimeout();
  });
  try {
    const chunk = await client.read();
    return expired ? "timeout" : chunk;
  } finally {
    timer.cancel();
  }
}

/** Where {@linkcode streamRest} reads the body from, and what it counts. */
interface StreamRestOptions {
  /** The agent. */
  client: SocketStream;
  /** How long the agent's body may stall. */
  stallMs: number;
  /** Body bytes forwarded so far, kept when streaming fails. */
  streamed: { bytes: number };
}

/** Streams the body past the buffer limit to the upstream, re-framed like the first part. */
async function streamRest(
  rest: { body: BodyReader; framing: Framing },
  lease: UpstreamLease,
  { client, stallMs, streamed }: StreamRestOptions,
): Promise<void> {
  const { body, framing } = rest;
  while (!body.done) {
    const chunk = await readWithin(client, stallMs);
    if (chunk === "timeout") throw new BodyTimeout();
    if (chunk === null) throw new AgentGone();
    const r = body.push(chunk);
    for (const d of r.data) {
      streamed.bytes += d.length;
      await lease.stream.write(framing.kind === "chunked" ? encodeChunk(d) : d);
    }
    if (r.consumed < chunk.length) client.unread(chunk.subarray(r.consumed));
  }
  if (framing.kind === "chunked") await lease.stream.write(LAST_CHUNK);
}

/** Reads the final response head, skipping interim 1xx responses (other than 101). */
async function readResponseHead(
  upstream: ByteReader,
  timeoutMs: number,
  progress: AttemptProgress,
): Promise<ResponseHead> {
  let timer: Deadline | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = deadline(
      timeoutMs,
      () => reject(new UpstreamError("timeout", "upstream did not answer in time")),
    );
  });
  try {
    let buf: Uint8Array = EMPTY_BYTES;
    for (;;) {
      const chunk = await Promise.race([upstream.read(), late]);
      if (chunk === null) {
        if (progress.responseBytes === 0) {
          throw new StreamClosed("upstream closed the connection before responding");
        }
        throw new UpstreamError("protocol", "upstream closed mid-response head", {
          cause: new StreamClosed(),
        });
      }
      progress.responseBytes += chunk.length;
      buf = buf.length === 0 ? chunk : joinBytes([buf, chunk]);
      let head: ResponseHead | null;
      try {
        head = parseResponseHead(buf);
      } catch (err) {
        throw new UpstreamError(
          "protocol",
          `malformed upstream response: ${(err as Error).message}`,
        );
      }
      if (!head) continue;
      buf = buf.subarray(head.headBytes);
      if (head.status >= 100 && head.status < 200 && head.status !== 101) continue;
      upstream.unread(buf);
      return head;
    }
  } finally {
    timer?.cancel();
  }
}
