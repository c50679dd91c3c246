// Transcript tests of the request intake: reading the head (deadlines, pipelining, framing refusals).
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { bytes, GET, GET_B, headOf, Playbook, SUMMARY, text } from "./_session_testing.ts";

Deno.test("RequestIntake arms the idle deadline, then the head deadline at the first byte", () => {
  const pb = new Playbook().awaitHead().bytes(GET);
  deepEqual(pb.log, [
    "> await head",
    "< deadline idle 5000ms",
    `> ${GET.length} bytes`,
    "< deadline head 200ms",
    "< head GET /a?x=1 HTTP/1.1",
  ]);
  deepEqual(pb.only("head").head.headers, [["Host", "api.example.com"], ["Accept", "*/*"]]);
  ok(pb.intake.done === false, "the head part leaves the body to take");
});

Deno.test("RequestIntake takes a GET head split at every byte offset, arming the head deadline once", () => {
  const whole = headOf(GET);
  for (let i = 1; i < GET.length; i++) {
    const pb = new Playbook().awaitHead().bytes(GET.slice(0, i)).bytes(GET.slice(i));
    deepEqual(pb.log, [
      "> await head",
      "< deadline idle 5000ms",
      `> ${i} bytes`,
      "< deadline head 200ms",
      `> ${GET.length - i} bytes`,
      "< head GET /a?x=1 HTTP/1.1",
    ], `split at ${i}`);
    deepEqual(pb.only("head").head, whole, `split at ${i}`);
  }
});

Deno.test("RequestIntake leaves the second of two pipelined requests for the next exchange", () => {
  const first = new Playbook().awaitHead().bytes(GET + GET_B);
  deepEqual(first.log.slice(2), [
    `> ${GET.length + GET_B.length} bytes`,
    "< deadline head 200ms",
    `< unread ${JSON.stringify(GET_B)}`,
    "< head GET /a?x=1 HTTP/1.1",
  ]);
  const rest = first.only("unread").bytes;
  // A GET has no body: nothing is read, so the handed-back bytes stay on the connection.
  first.takeBody(first.only("head").head);
  deepEqual(first.log.slice(6), ["> take body", '< body none buffered "" seen "" complete']);
  ok(first.intake.done);

  const second = new Playbook().awaitHead().bytes(rest);
  deepEqual(second.log.slice(2), [
    `> ${GET_B.length} bytes`,
    "< deadline head 200ms",
    "< head GET /b HTTP/1.1",
  ]);
});

Deno.test("RequestIntake takes a POST body and hands back the pipelined request after it", () => {
  const post = "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  const pb = new Playbook().awaitHead().bytes(post + "hello" + GET_B);
  const rest = pb.only("unread").bytes;
  equal(text(rest), "hello" + GET_B);
  pb.takeBody(pb.only("head").head).bytes(rest);
  deepEqual(pb.log.slice(6), [
    "> take body",
    "< deadline body 200ms",
    `> ${rest.length} bytes`,
    `< unread ${JSON.stringify(GET_B)}`,
    '< body length:5 buffered "hello" seen "hello" complete',
  ]);
  ok(pb.only("body").request.body.done);
});

Deno.test("RequestIntake refuses Content-Length with Transfer-Encoding (400, receipt, close)", () => {
  const pb = new Playbook().takeBody(
    "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
  );
  const reason = "Request has both Transfer-Encoding and Content-Length";
  deepEqual(pb.log, [
    "> take body",
    `< refuse 400 bad_request "${reason}" receipt "${SUMMARY}": "${reason}" close`,
  ]);
  ok(pb.intake.done);
});

Deno.test("RequestIntake refuses a duplicate Content-Length, differing or not", () => {
  for (const second of ["6", "5"]) {
    const pb = new Playbook().takeBody(
      `POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: ${second}\r\n\r\n`,
    );
    const reason = "Request has more than one Content-Length";
    deepEqual(pb.log.slice(1), [
      `< refuse 400 bad_request "${reason}" receipt "${SUMMARY}": "${reason}" close`,
    ], `second Content-Length ${second}`);
  }
});

Deno.test("RequestIntake refuses an unsupported transfer coding with 501", () => {
  const pb = new Playbook().takeBody(
    "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
  );
  const reason = "Transfer coding 'gzip' is not supported";
  deepEqual(pb.log.slice(1), [
    `< refuse 501 bad_request "${reason}" receipt "${SUMMARY}": "${reason}" close`,
  ]);
});

Deno.test("RequestIntake refuses a malformed head as soon as it shows, with a 'malformed request' receipt", () => {
  const cases: [string, number, string][] = [
    ["GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "Start line ends in a bare LF"],
    ["GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 request has no Host header field"],
    ["GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP version 'HTTP/2.0' is not supported"],
  ];
  for (const [head, status, reason] of cases) {
    const pb = new Playbook().awaitHead().bytes(head);
    deepEqual(pb.log.slice(2), [
      `> ${head.length} bytes`,
      "< deadline head 200ms",
      `< refuse ${status} bad_request "${reason}" receipt "malformed request": ` +
      `"malformed request: ${reason}" close`,
    ], head);
    ok(pb.intake.done);
  }
  // The bare LF ends the start line: refused before the rest of the head arrives.
  const early = new Playbook().awaitHead().bytes("GET / HTTP/1.1\n");
  equal(early.only("refuse").refusal.status, 400);
});

Deno.test("RequestIntake refuses a head over the size limit once the limit is buffered", () => {
  const pb = new Playbook().awaitHead().bytes("GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
  let fed = pb.log.length;
  let refused = -1;
  for (let i = 0; i < 80 && refused < 0; i++) {
    pb.bytes("a".repeat(1024));
    if (pb.last.some((c) => c.kind === "refuse")) refused = i;
    else deepEqual(pb.last, [], `piece ${i} needs more bytes`);
    fed = pb.log.length;
  }
  // 33 bytes of head, then 64 pieces reach 65,536: the 64th piece (index 63) is refused.
  equal(refused, 63);
  const reason = "Head is larger than 65536 bytes";
  deepEqual(pb.log.slice(fed - 2), [
    "> 1024 bytes",
    `< refuse 431 bad_request "${reason}" receipt "malformed request": ` +
    `"malformed request: ${reason}" close`,
  ]);

  const line = new Playbook().awaitHead().bytes(`GET /${"a".repeat(8200)}`);
  equal(line.only("refuse").refusal.status, 414);
  equal(line.only("refuse").refusal.reason, "Start line is longer than 8192 bytes");
});

Deno.test("RequestIntake refuses a slowloris head with 408 when the head deadline passes", () => {
  const pb = new Playbook().awaitHead().bytes("GET / HTTP/1.1\r\nHo").bytes("st: h\r\n").deadline();
  const reason = "request head not received in time";
  deepEqual(pb.log.slice(2), [
    "> 18 bytes",
    "< deadline head 200ms",
    "> 7 bytes",
    "> deadline passed",
    `< refuse 408 request_timeout "${reason}" receipt "incomplete request head": "${reason}" close`,
  ]);
  throws(() => pb.intake.chunk(bytes("\r\n")), TypeError);
});

Deno.test("RequestIntake closes an idle connection silently when nothing arrived", () => {
  const pb = new Playbook().awaitHead().deadline();
  deepEqual(pb.log, ["> await head", "< deadline idle 5000ms", "> deadline passed", "< close"]);
  ok(pb.intake.done);
});

Deno.test("RequestIntake closes without a receipt when the agent ends mid-head", () => {
  const pb = new Playbook().awaitHead().bytes("GET / HT").end();
  deepEqual(pb.log.slice(4), ["> end", "< close"]);
});

Deno.test("RequestIntake parses a head that arrives whole where it lies, and copies one that does not", () => {
  const chunk = bytes(GET + GET_B);
  const whole = new Playbook().awaitHead().bytes(chunk);
  // The pipelined rest is a view of the agent's own chunk: no copy was made to parse the head.
  equal(whole.only("unread").bytes.buffer, chunk.buffer);
  deepEqual(whole.only("head").head, headOf(GET));

  // A head split across reads is gathered in a buffer of its own (parsing needs it contiguous):
  // what becomes of the first chunk afterwards changes nothing.
  const first = bytes(GET.slice(0, 10));
  const split = new Playbook().awaitHead().bytes(first);
  first.fill(0x21);
  split.bytes(bytes(GET.slice(10) + GET_B));
  deepEqual(split.only("head").head, headOf(GET));
});
