import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { encodeChunk, LAST_CHUNK } from "./_chunked.ts";
import { BodyReader, type Framing, requestFraming, responseFraming } from "./_framing.ts";
import { parseRequestHead, type RequestHead, type ResponseHead } from "./_head.ts";
import { assertStatus } from "./_parse_testing.ts";

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function text(parts: Uint8Array | Uint8Array[]): string {
  let s = "";
  for (const p of parts instanceof Uint8Array ? [parts] : parts) {
    for (const b of p) s += String.fromCharCode(b);
  }
  return s;
}

function request(headers: [string, string][], version: "HTTP/1.0" | "HTTP/1.1" = "HTTP/1.1") {
  return { method: "POST", target: "/", version, headers, headBytes: 0 } satisfies RequestHead;
}

function response(status: number, headers: [string, string][], version = "HTTP/1.1") {
  return { version, status, reason: "", headers, headBytes: 0 } satisfies ResponseHead;
}

Deno.test("requestFraming() reads no body, a Content-Length or chunked", () => {
  const cases: [[string, string][], Framing][] = [
    [[], { kind: "none" }],
    [[["Content-Length", "0"]], { kind: "length", length: 0 }],
    [[["content-length", "0042"]], { kind: "length", length: 42 }],
    [[["Content-Length", "9007199254740991"]], { kind: "length", length: Number.MAX_SAFE_INTEGER }],
    [[["Transfer-Encoding", "chunked"]], { kind: "chunked" }],
    [[["transfer-encoding", "ChUnKeD"]], { kind: "chunked" }],
  ];
  for (const [headers, framing] of cases) {
    deepEqual(requestFraming(request(headers)), framing, JSON.stringify(headers));
  }
});

Deno.test("requestFraming() refuses Transfer-Encoding together with Content-Length", () => {
  const headers: [string, string][] = [["Content-Length", "3"], ["Transfer-Encoding", "chunked"]];
  assertStatus(() => requestFraming(request(headers)), 400, "TE+CL", /both/);
});

Deno.test("requestFraming() refuses duplicate or malformed Content-Length", () => {
  const cases: [string, [string, string][], RegExp][] = [
    ["two equal fields", [["Content-Length", "5"], ["content-length", "5"]], /more than one/],
    ["two different fields", [["Content-Length", "5"], ["Content-Length", "6"]], /more than one/],
    ["equal list", [["Content-Length", "5, 5"]], /Invalid/],
    ["equal list without space", [["Content-Length", "5,5"]], /Invalid/],
    ["plus sign", [["Content-Length", "+5"]], /Invalid/],
    ["minus sign", [["Content-Length", "-5"]], /Invalid/],
    ["hex", [["Content-Length", "0x5"]], /Invalid/],
    ["decimal point", [["Content-Length", "5.0"]], /Invalid/],
    ["exponent", [["Content-Length", "1e3"]], /Invalid/],
    ["inner space", [["Content-Length", "1 0"]], /Invalid/],
    ["empty", [["Content-Length", ""]], /Invalid/],
    ["no-break space (JS trim would strip it)", [["Content-Length", "5\u00a0"]], /Invalid/],
    ["above MAX_SAFE_INTEGER", [["Content-Length", "9007199254740992"]], /Invalid/],
    ["huge", [["Content-Length", "9".repeat(400)]], /Invalid/],
  ];
  for (const [label, headers, message] of cases) {
    assertStatus(() => requestFraming(request(headers)), 400, label, message);
  }
});

Deno.test("requestFraming() refuses Transfer-Encoding in an HTTP/1.0 request", () => {
  const headers: [string, string][] = [["Transfer-Encoding", "chunked"]];
  assertStatus(() => requestFraming(request(headers, "HTTP/1.0")), 400, "1.0", /HTTP\/1\.0/);
});

Deno.test("requestFraming() answers 501 for codings other than chunked and 400 for malformed", () => {
  const te = (...values: string[]) => values.map((v): [string, string] => ["Transfer-Encoding", v]);
  const cases: [string, [string, string][], number, RegExp][] = [
    ["gzip", te("gzip"), 501, /'gzip'/],
    ["identity", te("identity"), 501, /'identity'/],
    ["gzip then chunked", te("gzip, chunked"), 501, /'gzip'/],
    ["chunked then gzip", te("chunked, gzip"), 501, /'gzip'/],
    ["gzip and chunked in two fields", te("gzip", "chunked"), 501, /'gzip'/],
    ["chunked twice", te("chunked, chunked"), 400, /twice/],
    ["chunked in two fields", te("chunked", "Chunked"), 400, /twice/],
    ["empty list element", te("chunked,"), 400, /Malformed/],
    ["empty value", te(""), 400, /Malformed/],
    ["inner space", te("chun ked"), 400, /Malformed/],
    ["chunked with a parameter", te("chunked;q=1"), 400, /parameters/],
    ["non-token coding", te('chunked, "gzip"'), 400, /Malformed/],
    ["vertical tab (JS trim would strip it)", te("chunked\u000b"), 400, /Malformed/],
  ];
  for (const [label, headers, status, message] of cases) {
    assertStatus(() => requestFraming(request(headers)), status, label, message);
  }
});

Deno.test("responseFraming() has no body for HEAD, 1xx, 204, 304 and CONNECT 2xx", () => {
  const cl: [string, string][] = [["Content-Length", "10"]];
  deepEqual(responseFraming("HEAD", response(200, cl)), { kind: "none" });
  for (const status of [100, 101, 199, 204, 304]) {
    deepEqual(responseFraming("GET", response(status, cl)), { kind: "none" }, String(status));
  }
  deepEqual(responseFraming("CONNECT", response(200, [])), { kind: "none" });
  deepEqual(responseFraming("CONNECT", response(407, cl)), { kind: "length", length: 10 });
  deepEqual(responseFraming("GET", response(205, cl)), { kind: "length", length: 10 });
});

Deno.test("responseFraming() reads chunked, Content-Length or until close", () => {
  const te = (v: string): [string, string][] => [["Transfer-Encoding", v]];
  const cases: [[string, string][], Framing][] = [
    [te("chunked"), { kind: "chunked" }],
    [te("identity, chunked"), { kind: "chunked" }],
    [te("identity"), { kind: "close" }],
    [te("chunked, identity"), { kind: "close" }],
    [[["Content-Length", "7"]], { kind: "length", length: 7 }],
    [[["Content-Length", "7"], ["content-length", "7"]], { kind: "length", length: 7 }],
    [[["Content-Length", "7, 7"]], { kind: "length", length: 7 }],
    [[], { kind: "close" }],
  ];
  for (const [headers, framing] of cases) {
    deepEqual(responseFraming("GET", response(200, headers)), framing, JSON.stringify(headers));
  }
});

Deno.test("responseFraming() answers 502 for ambiguous or unsupported upstream framing", () => {
  const cases: [string, ResponseHead, RegExp][] = [
    [
      "conflicting fields",
      response(200, [["Content-Length", "7"], ["Content-Length", "8"]]),
      /conf/,
    ],
    ["conflicting list", response(200, [["Content-Length", "7, 8"]]), /conflicting/],
    ["invalid length", response(200, [["Content-Length", "7a"]]), /Invalid/],
    ["empty list element", response(200, [["Content-Length", "7,"]]), /Invalid/],
    [
      "no-break space (JS trim would strip it)",
      response(200, [["Content-Length", "7\u00a0"]]),
      /Inv/,
    ],
    [
      "TE with CL",
      response(200, [["Transfer-Encoding", "chunked"], ["Content-Length", "7"]]),
      /both/,
    ],
    ["TE in HTTP/1.0", response(200, [["Transfer-Encoding", "chunked"]], "HTTP/1.0"), /1\.0/],
    ["gzip coding", response(200, [["Transfer-Encoding", "gzip, chunked"]]), /'gzip'/],
    ["chunked twice", response(200, [["Transfer-Encoding", "chunked, chunked"]]), /twice/],
    ["malformed TE", response(200, [["Transfer-Encoding", "chunked,,"]]), /Malformed/],
  ];
  for (const [label, head, message] of cases) {
    assertStatus(() => responseFraming("GET", head), 502, label, message);
  }
});

Deno.test("BodyReader with no body is done before any push", () => {
  for (const framing of [{ kind: "none" }, { kind: "length", length: 0 }] as Framing[]) {
    const r = new BodyReader(framing);
    ok(r.done);
    deepEqual(r.push(bytes("GET")), { data: [], consumed: 0, done: true });
  }
});

Deno.test("BodyReader with a length stops at exactly that many bytes across pushes", () => {
  const r = new BodyReader({ kind: "length", length: 5 });
  const a = r.push(bytes("abc"));
  equal(text(a.data), "abc");
  deepEqual([a.consumed, a.done, r.bytesDecoded], [3, false, 3]);
  const b = r.push(bytes("deGET / HTTP/1.1"));
  equal(text(b.data), "de");
  deepEqual([b.consumed, b.done, r.done, r.bytesDecoded], [2, true, true, 5]);
  deepEqual(r.push(bytes("more")), { data: [], consumed: 0, done: true });
});

Deno.test("BodyReader with close framing takes everything and never completes", () => {
  const r = new BodyReader({ kind: "close" });
  for (const piece of ["abc", "HTTP/1.1 200 OK\r\n"]) {
    const step = r.push(bytes(piece));
    deepEqual([text(step.data), step.consumed, step.done], [piece, piece.length, false]);
  }
  equal(r.bytesDecoded, 20);
  ok(!r.done);
});

Deno.test("BodyReader decodes a chunked body and leaves the next message unconsumed", () => {
  const body = "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
  const r = new BodyReader({ kind: "chunked" });
  const step = r.push(bytes(body + "GET /next"));
  deepEqual([text(step.data), step.consumed, step.done], ["abcde", body.length, true]);
  equal(r.bytesDecoded, 5);
});

Deno.test("BodyReader passes chunked limits to the decoder", () => {
  const r = new BodyReader({ kind: "chunked" }, { maxChunkLine: 4 });
  assertStatus(() => r.push(bytes("3;ab\r\n")), 400, "line", /longer than 4/);
  const t = new BodyReader({ kind: "chunked" }, { maxTrailerBytes: 4 });
  assertStatus(() => t.push(bytes("0\r\nA: bc\r\n\r\n")), 431, "trailer");
});

Deno.test("BodyReader refuses a length that is not a safe non-negative integer", () => {
  for (const length of [-1, 1.5, NaN, 2 ** 53]) {
    throws(() => new BodyReader({ kind: "length", length }), RangeError);
  }
});

Deno.test("pipelined requests with bodies split correctly at message boundaries", () => {
  const first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  const second = "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "2\r\nhi\r\n0\r\n\r\n";
  const third = "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
  let buf = bytes(first + second + third);
  const seen: [string, string][] = [];
  while (buf.length > 0) {
    const head = parseRequestHead(buf)!;
    buf = buf.subarray(head.headBytes);
    const reader = new BodyReader(requestFraming(head));
    const step = reader.push(buf);
    ok(reader.done);
    buf = buf.subarray(step.consumed);
    seen.push([head.target, text(step.data)]);
  }
  deepEqual(seen, [["/a", "hello"], ["/b", "hi"], ["/c", ""]]);
});

Deno.test("a chunked body encoded piece by piece parses back through BodyReader", () => {
  const parts = ["alpha", "", "beta", "\r\n0\r\n\r\n"].map(bytes);
  const wire = [...parts.map(encodeChunk), LAST_CHUNK];
  const r = new BodyReader({ kind: "chunked" });
  const data: Uint8Array[] = [];
  for (const piece of wire) data.push(...r.push(piece).data);
  ok(r.done);
  equal(text(data), "alphabeta\r\n0\r\n\r\n");
});
