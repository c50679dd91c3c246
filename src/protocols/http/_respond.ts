/**
 * Responses the gateway itself sends an agent: denials (DESIGN.md §5), proxy-auth challenges and
 * protocol errors. JSON bodies, so agents and their tools can tell why.
 *
 * @module
 */

import { concatBytes } from "../../core/mod.ts";
import { clientReply, type ClientShape } from "./_client_reply.ts";
import type { ByteWriter } from "./_stream.ts";
import { serializeResponseHead } from "./_wire.ts";

/** Header naming the receipt of the decision, on every response the gateway decided. */
export const RECEIPT_HEADER = "X-Clawpatrol-Receipt";

const REASONS: Record<number, string> = {
  200: "Connection Established",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  405: "Method Not Allowed",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  414: "URI Too Long",
  417: "Expectation Failed",
  421: "Misdirected Request",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** What a gateway-made response says. */
export interface GatewayReply {
  status: number;
  /** Machine-readable kind: `denied`, `proxy_authentication_required`, `bad_request`, … */
  error: string;
  reason: string;
  rule?: string | null;
  receipt: string | null;
  /** Close the connection after this response. */
  close: boolean;
  headers?: [string, string][];
  /**
   * Body shape: the gateway's JSON (default), a Kubernetes `Status` object so kubectl prints
   * `Error from server (Forbidden): …` like any apiserver refusal, or the shape a recognised tool
   * shows (git, npm, pip, AWS: `_client_reply.ts`).
   */
  shape?: ReplyShape;
}

/** How gateway-made response bodies look to the agent's tools. */
export type ReplyShape = "json" | "k8s_status" | ClientShape;

export { clientReplyShape } from "./_client_reply.ts";

/** apiserver `StatusReason` per HTTP status (k8s.io/apimachinery metav1 StatusReason values). */
const K8S_REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  408: "Timeout",
  413: "RequestEntityTooLarge",
  414: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  417: "BadRequest",
  429: "TooManyRequests",
  431: "RequestEntityTooLarge",
};

/** The one-line message a Kubernetes client shows: reason, receipt and rule. */
function k8sMessage(reply: GatewayReply): string {
  const tags = [
    ...(reply.receipt ? [`receipt ${reply.receipt}`] : []),
    ...(reply.rule ? [`rule ${reply.rule}`] : []),
  ];
  const prefix = reply.status === 403 ? "denied by clawpatrol" : "clawpatrol";
  return `${prefix}: ${reply.reason}${tags.length > 0 ? ` (${tags.join(", ")})` : ""}`;
}

/**
 * Upstream failures (5xx) go to Kubernetes clients as plain text: client-go keeps a server's
 * message on its discovery path (every kubectl command starts with discovery) only for a
 * `text/plain` body, and shows it for 5xx on every other path too. A Status there would read
 * `an error on the server ("unknown")`.
 */
function k8sPlainText(reply: GatewayReply): boolean {
  return reply.shape === "k8s_status" && reply.status >= 500;
}

function replyBody(
  reply: GatewayReply,
): { contentType: string; body: string; statusText?: string } {
  if (k8sPlainText(reply)) {
    return { contentType: "text/plain; charset=utf-8", body: k8sMessage(reply) + "\n" };
  }
  if (reply.shape !== undefined && reply.shape !== "json" && reply.shape !== "k8s_status") {
    return clientReply(reply, reply.shape);
  }
  if (reply.shape === "k8s_status") {
    const body = JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: k8sMessage(reply),
      reason: K8S_REASONS[reply.status] ?? "InternalError",
      code: reply.status,
    });
    return { contentType: "application/json", body: body + "\n" };
  }
  const body = JSON.stringify({
    error: reply.error,
    reason: reply.reason,
    ...(reply.rule !== undefined ? { rule: reply.rule } : {}),
    receipt: reply.receipt,
  });
  return { contentType: "application/json", body: body + "\n" };
}

/** The wire bytes of a gateway-made response. */
export function replyBytes(reply: GatewayReply): Uint8Array {
  const shaped = replyBody(reply);
  const body = new TextEncoder().encode(shaped.body);
  const headers: [string, string][] = [
    ["Content-Type", shaped.contentType],
    ["Content-Length", String(body.length)],
    ...(reply.receipt ? [[RECEIPT_HEADER, reply.receipt] as [string, string]] : []),
    ...(reply.headers ?? []),
    ...(reply.close ? [["Connection", "close"] as [string, string]] : []),
  ];
  const head = serializeResponseHead(
    reply.status,
    shaped.statusText ?? REASONS[reply.status] ?? "Error",
    headers,
  );
  return concatBytes([head, body]);
}

/** Sends a gateway-made response; a client already gone is not an error. */
export async function reply(to: ByteWriter, r: GatewayReply): Promise<void> {
  try {
    await to.write(replyBytes(r));
  } catch {
    // The agent hung up; the receipt already records the decision.
  }
  if (r.close) to.closeWrite();
}

/** `200 Connection Established` for a CONNECT the gateway accepted. */
export const CONNECT_ESTABLISHED: Uint8Array = new TextEncoder().encode(
  "HTTP/1.1 200 Connection Established\r\n\r\n",
);

/** `100 Continue`, sent before reading a body the client holds back (`Expect: 100-continue`). */
export const CONTINUE: Uint8Array = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
