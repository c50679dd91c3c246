import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { StreamClosed } from "./_stream.ts";
import { UpstreamError } from "./_upstream.ts";
import { AgentGone, type AttemptProgress, BodyTimeout, mayResend } from "./_upstream_retry.ts";

const NOTHING_BACK: AttemptProgress = { bodySent: false, streamed: false, responseBytes: 0 };

Deno.test("mayResend() resends after any connection failure before the upstream answered", () => {
  for (
    const err of [
      new Deno.errors.UnexpectedEof("peer closed connection without sending TLS close_notify"),
      new Deno.errors.ConnectionReset("reset"),
      new Deno.errors.BrokenPipe("broken pipe"),
      new StreamClosed("upstream closed the connection before responding"),
      Object.assign(new Error("write EPIPE"), { code: "EPIPE" }),
    ]
  ) {
    assertEquals(mayResend(err, NOTHING_BACK, false), true, err.message);
  }
});

Deno.test("mayResend() never resends a non-idempotent request whose body may have reached the upstream", () => {
  const sent = { ...NOTHING_BACK, bodySent: true };
  assertEquals(mayResend(new Deno.errors.UnexpectedEof("eof"), sent, false), false);
  // An idempotent one (PUT) applied twice has the effect of applying it once.
  assertEquals(mayResend(new Deno.errors.UnexpectedEof("eof"), sent, true), true);
});

Deno.test("mayResend() never resends once the upstream answered, or a body streamed past the buffer", () => {
  const eof = new Deno.errors.UnexpectedEof("eof");
  assertEquals(mayResend(eof, { ...NOTHING_BACK, responseBytes: 12 }, true), false);
  // Streamed bytes were read from the agent and passed on: nothing is left to send again.
  assertEquals(mayResend(eof, { ...NOTHING_BACK, streamed: true }, true), false);
});

Deno.test("mayResend() does not resend on a timeout, a malformed answer or the agent's own failure", () => {
  const timeout = new UpstreamError("timeout", "upstream did not answer in time");
  assertEquals(mayResend(timeout, NOTHING_BACK, true), false);
  assertEquals(mayResend(new UpstreamError("protocol", "malformed"), NOTHING_BACK, true), false);
  assertEquals(mayResend(new BodyTimeout(), NOTHING_BACK, true), false);
  assertEquals(mayResend(new AgentGone(), NOTHING_BACK, true), false);
});
