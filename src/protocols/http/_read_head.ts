/**
 * Reading one request head off an agent connection, with the idle and slowloris deadlines and
 * the protocol's own error shape; shared by the forward proxy and the Kubernetes listener.
 *
 * @module
 */

import { type AgentFacts, concatBytes, type ProtocolFamily } from "../../core/mod.ts";
import type { HttpProxyContext } from "./context.ts";
import { reply, type ReplyShape } from "./_respond.ts";
import type { SocketStream } from "./_stream.ts";
import {
  DEFAULT_HEAD_LIMITS,
  HttpParseError,
  parseRequestHead,
  type RequestHead,
} from "./_wire.ts";

/** Whose receipts and which error shape a connection's head errors get. */
export interface HeadScope {
  protocol: ProtocolFamily;
  endpoint: string | null;
  shape?: ReplyShape;
}

const PROXY_SCOPE: HeadScope = { protocol: "https", endpoint: null };

/**
 * Reads one request head: the connection may idle (kept alive) up to `idleTimeoutMs` before
 * the first byte, then has `headerTimeoutMs` to finish the head (slow clients are cut off).
 * Returns `null` when the connection ended or idled out; answers parse errors itself.
 */
export async function readHead(
  client: SocketStream,
  ctx: Pick<HttpProxyContext, "guard" | "limits">,
  agent: AgentFacts | null,
  scope: HeadScope = PROXY_SCOPE,
): Promise<RequestHead | null> {
  const limits = ctx.limits();
  let buf: Uint8Array = new Uint8Array(0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let expired = false;
  const arm = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      expired = true;
      client.wakeWithTimeout();
    }, ms);
  };
  arm(limits.idleTimeoutMs);
  try {
    for (;;) {
      const chunk = await client.read();
      if (expired) {
        if (buf.length === 0) return null;
        const receipt = ctx.guard.refuse({
          protocol: scope.protocol,
          endpoint: scope.endpoint,
          agent,
          summary: "incomplete request head",
          reason: "request head not received in time",
        });
        await reply(client, {
          status: 408,
          error: "request_timeout",
          reason: "request head not received in time",
          receipt,
          close: true,
          shape: scope.shape,
        });
        return null;
      }
      if (chunk === null) return null;
      if (buf.length === 0) arm(limits.headerTimeoutMs);
      buf = buf.length === 0 ? chunk : concatBytes([buf, chunk]);
      let head: RequestHead | null;
      try {
        head = parseRequestHead(buf, DEFAULT_HEAD_LIMITS);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        const receipt = ctx.guard.refuse({
          protocol: scope.protocol,
          endpoint: scope.endpoint,
          agent,
          summary: "malformed request",
          reason: `malformed request: ${err.message}`,
        });
        await reply(client, {
          status: err.status,
          error: "bad_request",
          reason: err.message,
          receipt,
          close: true,
          shape: scope.shape,
        });
        return null;
      }
      if (head) {
        client.unread(buf.subarray(head.headBytes));
        return head;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
