import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  AcceptBackoff,
  acceptFailureCause,
  acceptFailureText,
  MAX_DELAY_MS,
  QUIET_MS,
} from "./_accept_backoff.ts";

Deno.test("AcceptBackoff doubles its wait from 10 ms up to 1 s, and starts over after an accept", () => {
  const backoff = new AcceptBackoff();
  const delays = Array.from({ length: 10 }, (_, i) => backoff.failed(i).delayMs);
  assertEquals(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
  assertEquals(Math.max(...delays), MAX_DELAY_MS);
  backoff.accepted(20);
  assertEquals(backoff.failed(21).delayMs, 10);
});

Deno.test("AcceptBackoff makes one burst of consecutive failures, ended when accept goes idle", () => {
  const backoff = new AcceptBackoff();
  assert(!backoff.failing);
  assertEquals(backoff.failed(1_000).startsBurst, true);
  assertEquals(backoff.failed(1_010).startsBurst, false);
  assertEquals(backoff.failed(1_030).startsBurst, false);
  assert(backoff.failing);
  assertEquals(backoff.idle(1_500), { failures: 3, durationMs: 500 });
  assert(!backoff.failing);
  assertEquals(backoff.idle(1_600), null, "a second idle ends nothing");
  assertEquals(backoff.failed(2_000).startsBurst, true, "the next failure starts a new burst");
});

Deno.test("AcceptBackoff keeps the burst open while accepts and failures alternate", () => {
  // Under steady exhaustion each closed connection lets one accept through: no recovery yet.
  const backoff = new AcceptBackoff();
  backoff.failed(0);
  assertEquals(backoff.accepted(5), null);
  backoff.failed(10);
  assertEquals(backoff.accepted(QUIET_MS), null, "too soon after the last failure");
  assert(backoff.failing);
  assertEquals(backoff.accepted(10 + QUIET_MS), { failures: 2, durationMs: 10 + QUIET_MS });
  assert(!backoff.failing);
  assertEquals(backoff.accepted(20 + QUIET_MS), null, "no burst, nothing to end");
});

Deno.test("acceptFailureCause names the errno, or unknown; the text says what ran out", () => {
  const emfile = Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" });
  assertEquals(acceptFailureCause(emfile), "EMFILE");
  assertEquals(acceptFailureCause(Object.assign(new Error("x"), { code: "ENFILE" })), "ENFILE");
  assertEquals(acceptFailureCause(new Error("no code")), "unknown");
  assertEquals(
    acceptFailureCause(Object.assign(new Error("x"), { code: "a label; drop" })),
    "unknown",
  );
  assertEquals(acceptFailureCause(null), "unknown");
  assertEquals(
    acceptFailureText("EMFILE"),
    "cannot accept connections: too many open files (EMFILE)",
  );
  assertEquals(acceptFailureText("ENOMEM"), "cannot accept connections: out of memory (ENOMEM)");
  assertEquals(acceptFailureText("EPROTO"), "cannot accept connections: accept failed (EPROTO)");
});
