/**
 * What went wrong with an upstream, in a small vocabulary (for metrics and the operator log),
 * and in words safe to show the agent and record on the receipt.
 *
 * @module
 */

import type { UpstreamCause } from "./context.ts";
import { StreamClosed } from "./_stream.ts";
import { UpstreamError } from "./_upstream.ts";
import { HttpParseError } from "./_wire.ts";

// Node-style codes (node:net, and the `code` Deno sets on its own errors).
const CODES: Record<string, UpstreamCause> = {
  ECONNREFUSED: "refused",
  ECONNRESET: "reset",
  ECONNABORTED: "reset",
  EPIPE: "reset",
  ENOTCONN: "reset",
  ETIMEDOUT: "timeout",
  ENOTFOUND: "dns",
  EAI_AGAIN: "dns",
  EAI_NONAME: "dns",
};

/**
 * The cause of an upstream failure, from the error a dial, write or read threw.
 *
 * @example
 * ```ts
 * classifyUpstreamFailure(new Deno.errors.UnexpectedEof("peer closed connection")); // "eof"
 * classifyUpstreamFailure(new Deno.errors.ConnectionRefused("refused")); // "refused"
 * ```
 */
export function classifyUpstreamFailure(err: unknown): UpstreamCause {
  if (err instanceof UpstreamError) {
    if (err.kind === "timeout") return "timeout";
    if (err.kind === "tls") return "tls";
    // A failed dial says why in its cause (refused, no such name); a bad answer is "other"
    // unless the upstream simply hung up part-way (its cause is then the closed stream).
    return err.cause === undefined ? "other" : classifyUpstreamFailure(err.cause);
  }
  if (err instanceof StreamClosed) return "eof";
  if (err instanceof Deno.errors.ConnectionRefused) return "refused";
  if (
    err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.NotConnected
  ) {
    return "reset";
  }
  // rustls reports a peer that closed TCP without close_notify as UnexpectedEof.
  if (err instanceof Deno.errors.UnexpectedEof || err instanceof Deno.errors.WriteZero) {
    return "eof";
  }
  if (err instanceof Deno.errors.TimedOut) return "timeout";
  if (err instanceof Deno.errors.NotFound) return "dns";
  if (!(err instanceof Error)) return "other";
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && code in CODES) return CODES[code];
  // Deno.connect reports a failed lookup as a plain Error.
  if (
    /failed to lookup address|name or service not known|no address associated/i.test(err.message)
  ) {
    return "dns";
  }
  // Certificate and handshake problems surface as InvalidData from rustls.
  if (err instanceof Deno.errors.InvalidData && /tls|certificate|handshake/i.test(err.message)) {
    return "tls";
  }
  return "other";
}

const CAUSE_TEXT: Record<UpstreamCause, string> = {
  refused: "upstream refused the connection",
  reset: "upstream reset the connection",
  eof: "upstream closed the connection",
  timeout: "upstream did not answer in time",
  tls: "TLS with upstream failed",
  dns: "upstream name did not resolve",
  other: "upstream failed",
};

/**
 * Agent-facing words for an upstream failure: the gateway's own message when it made one,
 * otherwise the cause (never the raw error, which can carry addresses).
 */
export function describeUpstreamFailure(err: unknown): string {
  if (err instanceof UpstreamError) return err.message;
  if (err instanceof HttpParseError) return `malformed upstream response: ${err.message}`;
  if (err instanceof StreamClosed && err.message.startsWith("upstream ")) return err.message;
  return CAUSE_TEXT[classifyUpstreamFailure(err)];
}

/**
 * Methods a client may resend after a connection failure (RFC 9110 §9.2.2): the upstream
 * applying them twice has the effect of applying them once.
 */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/**
 * Whether a request may be sent twice: its method is idempotent and so is the method an
 * override header or parameter makes of it (a GET overridden to POST is a POST).
 *
 * @example
 * ```ts
 * isIdempotent("GET", "get"); // true
 * isIdempotent("GET", "post"); // false
 * ```
 */
export function isIdempotent(method: string, effectiveMethod: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase()) && IDEMPOTENT.has(effectiveMethod.toUpperCase());
}
