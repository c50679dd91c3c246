import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  BODY_TIMEOUT,
  type IntakeCommand,
  type IntakeLimits,
  RequestIntake,
  requestRefusal,
} from "./session.ts";
import { parseRequestHead, type RequestHead } from "./_wire.ts";

// Transcript tests (mitmproxy's Playbook): events in (`>`), commands out (`<`), no socket.

const LIMITS: IntakeLimits = { idleTimeoutMs: 5000, headerTimeoutMs: 200, bodyBufferBytes: 16 };
const WEBSOCKET_ONLY = ["websocket"];
const KUBERNETES = ["websocket", "spdy/3.1"];
const SUMMARY = "POST api.example.com/upload";

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function text(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

function headOf(s: string): RequestHead {
  const head = parseRequestHead(bytes(s));
  if (head === null) throw new Error(`Incomplete head: ${JSON.stringify(s)}`);
  return head;
}

/** One line per command, with everything a driver acts on. */
function show(c: IntakeCommand): string {
  switch (c.kind) {
    case "deadline":
      return `< deadline ${c.deadline} ${c.ms}ms`;
    case "continue":
      return "< continue";
    case "unread":
      return `< unread ${JSON.stringify(text(c.bytes))}`;
    case "head":
      return `< head ${c.head.method} ${c.head.target} ${c.head.version}`;
    case "body": {
      const r = c.request;
      const framing = r.framing.kind === "length" ? `length:${r.framing.length}` : r.framing.kind;
      return `< body ${framing}${r.upgrade ? " upgrade" : ""} buffered ${
        JSON.stringify(text(r.buffered))
      } seen ${JSON.stringify(text(r.seen))} ${r.truncated ? "truncated" : "complete"}`;
    }
    case "refuse": {
      const r = c.refusal;
      return `< refuse ${r.status} ${r.error} ${JSON.stringify(r.reason)} receipt ${
        JSON.stringify(r.summary)
      }: ${JSON.stringify(r.receiptReason)}${r.close ? " close" : ""}`;
    }
    case "close":
      return "< close";
  }
}

/** Drives one intake and keeps the transcript; `last` holds the commands of the last event. */
class Playbook {
  readonly intake: RequestIntake;
  readonly log: string[] = [];
  last: IntakeCommand[] = [];

  constructor(limits: IntakeLimits = LIMITS) {
    this.intake = new RequestIntake(limits);
  }

  awaitHead(): this {
    return this.#note("> await head", this.intake.awaitHead());
  }

  takeBody(head: RequestHead | string, upgrades: readonly string[] = WEBSOCKET_ONLY): this {
    const h = typeof head === "string" ? headOf(head) : head;
    return this.#note("> take body", this.intake.takeBody(h, { upgrades, summary: SUMMARY }));
  }

  bytes(b: Uint8Array | string): this {
    const chunk = typeof b === "string" ? bytes(b) : b;
    return this.#note(`> ${chunk.length} bytes`, this.intake.chunk(chunk));
  }

  end(): this {
    return this.#note("> end", this.intake.agentEnded());
  }

  deadline(): this {
    return this.#note("> deadline passed", this.intake.deadlinePassed());
  }

  /** The single command of `kind` in the last event's commands. */
  only<K extends IntakeCommand["kind"]>(kind: K): Extract<IntakeCommand, { kind: K }> {
    const found = this.last.filter((c) => c.kind === kind);
    equal(found.length, 1, `one '${kind}' command in ${JSON.stringify(this.last.map(show))}`);
    return found[0] as Extract<IntakeCommand, { kind: K }>;
  }

  #note(event: string, commands: IntakeCommand[]): this {
    this.last = commands;
    this.log.push(event, ...commands.map(show));
    return this;
  }
}

const GET = "GET /a?x=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n";
const GET_B = "GET /b HTTP/1.1\r\nHost: api.example.com\r\n\r\n";

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
