// Transcript tests of the request intake: the body (Expect, upgrades, buffering, stalls).
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { BODY_TIMEOUT, RequestIntake, requestRefusal } from "./session.ts";
import {
  bytes,
  GET,
  headOf,
  KUBERNETES,
  LIMITS,
  Playbook,
  SUMMARY,
  WEBSOCKET_ONLY,
} from "./_session_testing.ts";

Deno.test("RequestIntake answers Expect: 100-continue before reading the body", () => {
  const head = "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  const pb = new Playbook().takeBody(head).bytes("abc");
  deepEqual(pb.log, [
    "> take body",
    "< continue",
    "< deadline body 200ms",
    "> 3 bytes",
    '< body length:3 buffered "abc" seen "abc" complete',
  ]);
  // Without a body there is nothing to ask for.
  const get = new Playbook().takeBody("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
  deepEqual(get.log.slice(1), ['< body none buffered "" seen "" complete']);
  // HTTP/1.0 has no 100 responses: the expectation is ignored and the body read as usual.
  const old = new Playbook().takeBody(head.replace("HTTP/1.1", "HTTP/1.0")).bytes("abc");
  deepEqual(old.log.slice(1, 2), ["< deadline body 200ms"]);
});

Deno.test("RequestIntake refuses an unsupported Expect with 417", () => {
  for (const expect of ["Expect: 200-ok", "Expect: 100-continue\r\nExpect: 100-continue"]) {
    const pb = new Playbook().takeBody(
      `PUT /x HTTP/1.1\r\nHost: h\r\n${expect}\r\nContent-Length: 3\r\n\r\n`,
    );
    deepEqual(pb.log.slice(1), [
      `< refuse 417 bad_request "Unsupported Expect" receipt "${SUMMARY}": "Unsupported Expect" close`,
    ], expect);
  }
});

Deno.test("RequestIntake refuses an upgrade with a body with 400", () => {
  const pb = new Playbook().takeBody(
    "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
      "Content-Length: 5\r\n\r\n",
  );
  const reason = "Upgrade request with a body";
  deepEqual(pb.log.slice(1), [
    `< refuse 400 bad_request "${reason}" receipt "${SUMMARY}": "${reason}" close`,
  ]);
});

Deno.test("RequestIntake takes kubectl's SPDY POST with Content-Length: 0 as an upgrade with no body", () => {
  const spdy = "POST /api/v1/namespaces/default/pods/p/exec HTTP/1.1\r\nHost: k\r\n" +
    "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n\r\n";
  const pb = new Playbook().takeBody(spdy, KUBERNETES);
  deepEqual(pb.log.slice(1), ['< body none upgrade buffered "" seen "" complete']);
  // Where SPDY is not relayed it is plain HTTP: the empty body keeps its framing.
  const plain = new Playbook().takeBody(spdy, WEBSOCKET_ONLY);
  deepEqual(plain.log.slice(1), ['< body length:0 buffered "" seen "" complete']);
});

Deno.test("RequestIntake buffers a chunked body split at every byte offset, re-arming each read", () => {
  const head = "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n";
  for (let i = 1; i < body.length; i++) {
    const pb = new Playbook().takeBody(head).bytes(body.slice(0, i)).bytes(body.slice(i));
    deepEqual(pb.log, [
      "> take body",
      "< deadline body 200ms",
      `> ${i} bytes`,
      "< deadline body 200ms",
      `> ${body.length - i} bytes`,
      '< body chunked buffered "hello world" seen "hello world" complete',
    ], `split at ${i}`);
  }
});

Deno.test("RequestIntake truncates a body over the buffer limit and leaves the rest to stream", () => {
  const head = "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\n";
  const pb = new Playbook().takeBody(head).bytes("0123456789").bytes("abcdefghij");
  deepEqual(pb.log.slice(2), [
    "> 10 bytes",
    "< deadline body 200ms",
    "> 10 bytes",
    '< body length:40 buffered "0123456789abcdefghij" seen "0123456789abcdef" truncated',
  ]);
  // The reader goes on where the buffer stopped: 20 of 40 bytes read, 20 to stream.
  const { body } = pb.only("body").request;
  equal(body.bytesDecoded, 20);
  const rest = body.push(bytes("K".repeat(20) + "GET"));
  ok(rest.done);
  equal(rest.consumed, 20);
});

Deno.test("RequestIntake closes without a receipt when the agent ends mid-body", () => {
  const head = "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
  const pb = new Playbook().takeBody(head).bytes("abc").end();
  deepEqual(pb.log.slice(4), ["> end", "< close"]);
  ok(pb.intake.done);
});

Deno.test("RequestIntake refuses a stalled body with 408 when the body deadline passes", () => {
  const head = "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
  const pb = new Playbook().takeBody(head).bytes("abc").deadline();
  deepEqual(pb.log.slice(4), [
    "> deadline passed",
    `< refuse 408 request_timeout "${BODY_TIMEOUT}" receipt "${SUMMARY}": "${BODY_TIMEOUT}" close`,
  ]);
});

Deno.test("RequestIntake refuses a malformed chunked body with 400", () => {
  const head = "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const pb = new Playbook().takeBody(head).bytes("5\r\nhello\r\nzz\r\n");
  const reason = "Chunk line does not start with a hex chunk size";
  deepEqual(pb.log.slice(2), [
    "> 14 bytes",
    `< refuse 400 bad_request "${reason}" receipt "${SUMMARY}": "${reason}" close`,
  ]);
});

Deno.test("RequestIntake refuses events out of order", () => {
  const intake = new RequestIntake(LIMITS);
  throws(() => intake.chunk(bytes("GET")), TypeError);
  throws(() => intake.deadlinePassed(), TypeError);
  intake.awaitHead();
  throws(() => intake.awaitHead(), TypeError);
  intake.chunk(bytes(GET));
  throws(() => intake.chunk(bytes("x")), TypeError, "bytes after the head go back, not in");
  intake.takeBody(headOf(GET), { upgrades: WEBSOCKET_ONLY, summary: SUMMARY });
  throws(() => intake.agentEnded(), TypeError);
});

Deno.test("requestRefusal() names a 408 a timeout and anything else a bad request", () => {
  deepEqual(requestRefusal(408, "slow", "GET h/"), {
    status: 408,
    error: "request_timeout",
    reason: "slow",
    summary: "GET h/",
    receiptReason: "slow",
    close: true,
  });
  equal(requestRefusal(417, "no", "GET h/", false).error, "bad_request");
  equal(requestRefusal(417, "no", "GET h/", false).close, false);
});
