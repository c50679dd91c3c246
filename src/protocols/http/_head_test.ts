import { deepEqual, equal, ok } from "node:assert/strict";
import { HttpParseError, parseRequestHead, parseResponseHead, type RequestHead } from "./_head.ts";
import { SeededRng } from "../../../tests/_rng.ts";
import { assertStatus } from "./_parse_testing.ts";

/** Latin-1 encoding, so tests can place any byte (0x80-0xFF included) in a message. */
function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const req = (s: string) => parseRequestHead(bytes(s));

Deno.test("parseRequestHead() parses a GET with headers, names as sent and values trimmed", () => {
  const text = "GET /x?y=1 HTTP/1.1\r\nHost: example.com\r\nX-Pad:  \t a b \t\r\nEmpty:\r\n\r\n";
  deepEqual(req(text), {
    method: "GET",
    target: "/x?y=1",
    version: "HTTP/1.1",
    headers: [["Host", "example.com"], ["X-Pad", "a b"], ["Empty", ""]],
    headBytes: text.length,
  });
});

Deno.test("parseRequestHead() accepts origin, absolute, authority and asterisk form targets", () => {
  for (
    const [method, target] of [
      ["GET", "/"],
      ["GET", "http://h/x"],
      ["CONNECT", "h:443"],
      ["OPTIONS", "*"],
    ]
  ) {
    const head = req(`${method} ${target} HTTP/1.1\r\nHost: h\r\n\r\n`);
    equal(head?.method, method);
    equal(head?.target, target);
  }
});

Deno.test("parseRequestHead() keeps the method's case and accepts HTTP/1.0 without Host", () => {
  const head = req("get / HTTP/1.0\r\n\r\n");
  equal(head?.method, "get");
  equal(head?.version, "HTTP/1.0");
  deepEqual(head?.headers, []);
});

Deno.test("parseRequestHead() decodes obs-text as Latin-1, not UTF-8 or windows-1252", () => {
  const long = "x".repeat(40);
  const head = req(
    `GET / HTTP/1.1\r\nHost: h\r\nA: caf\xe9\r\nB: \x80\x9f\r\nC: ${long}\xff\r\n\r\n`,
  );
  deepEqual(head?.headers.slice(1), [["A", "caf\u00e9"], ["B", "\u0080\u009f"], [
    "C",
    `${long}\u00ff`,
  ]]);
  const ascii = "v".repeat(100);
  equal(req(`GET / HTTP/1.1\r\nHost: ${ascii}\r\n\r\n`)?.headers[0][1], ascii);
});

Deno.test("parseRequestHead() reads short names and values right however many share a slot", () => {
  // Thousands of short texts, many of one length: the table of recent strings keeps at most one
  // per slot, so most of these land on a slot holding another text of the same length.
  const rng = new SeededRng(11);
  const alphabet = [..."abcdefghijklmnopqrstuvwxyz0123456789-\xe9\xff"];
  const texts = Array.from({ length: 6_000 }, (_, i) => {
    const length = 1 + rng.int(i % 2 ? 6 : 40);
    return Array.from({ length }, () => rng.pick(alphabet)).join("");
  });
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < texts.length; i += 3) {
      const fields = texts.slice(i, i + 3).map((v) => [`X-${v.replace(/[^a-z0-9-]/g, "q")}`, v]);
      const lines = fields.map(([name, value]) => `${name}: ${value}\r\n`).join("");
      deepEqual(req(`GET / HTTP/1.1\r\nHost: h\r\n${lines}\r\n`)?.headers, [
        ["Host", "h"],
        ...fields,
      ]);
    }
  }
});

Deno.test("parseRequestHead() returns null for every proper prefix of a valid head", () => {
  const text = "\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
  for (let i = 0; i < text.length; i++) equal(req(text.slice(0, i)), null, `prefix ${i}`);
  equal(req(text)?.headBytes, text.length);
});

Deno.test("parseRequestHead() skips up to four leading CRLFs and counts them in headBytes", () => {
  const tail = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  equal(req("\r\n".repeat(4) + tail)?.headBytes, 8 + tail.length);
  assertStatus(() => req("\r\n".repeat(5) + tail), 400, "five empty lines", /Too many/);
  assertStatus(() => req("\n" + tail), 400, "bare LF empty line");
  assertStatus(() => req("\rX" + tail), 400, "bare CR empty line");
});

Deno.test("parseRequestHead() stops at the first head so pipelined requests parse in turn", () => {
  const first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const buf = bytes(first + second);
  const a = parseRequestHead(buf);
  equal(a?.target, "/a");
  equal(a?.headBytes, first.length);
  const b = parseRequestHead(buf.subarray(a!.headBytes));
  equal(b?.target, "/b");
  equal(b?.headBytes, second.length);
});

Deno.test("parseRequestHead() with scanFrom gives the same head when fed one byte at a time", () => {
  const text = "PUT /p HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\nBODY";
  const whole = req(text);
  const buf = bytes(text);
  let head: RequestHead | null = null;
  let end = 0;
  for (let n = 1; n <= buf.length && head === null; n++) {
    head = parseRequestHead(buf.subarray(0, n), undefined, n - 1);
    end = n;
  }
  deepEqual(head, whole);
  equal(end, text.length - 4);
});

Deno.test("parseRequestHead() still validates every line when scanFrom skips past them", () => {
  const text = "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n";
  assertStatus(
    () => parseRequestHead(bytes(text), undefined, text.length - 2),
    400,
    "bare LF",
    /bare LF/,
  );
});

Deno.test("parseRequestHead() rejects malformed request lines", () => {
  const method = /method/;
  const target = /target/;
  const version = /version/;
  const cases: [string, number, RegExp][] = [
    ["GET  / HTTP/1.1", 400, /Empty request target/],
    ["GET /  HTTP/1.1", 400, version],
    ["GET / HTTP/1.1 ", 400, version],
    [" GET / HTTP/1.1", 400, method],
    ["GET\t/ HTTP/1.1", 400, method],
    ["GET /\tHTTP/1.1", 400, target],
    ["G(T / HTTP/1.1", 400, method],
    ["GET /a b HTTP/1.1", 400, version],
    ["GET /\x7f HTTP/1.1", 400, target],
    ["GET /\x80 HTTP/1.1", 400, target],
    ["GET /\x00 HTTP/1.1", 400, target],
    ["GET /a\rb HTTP/1.1", 400, target],
    ["GET /", 400, target],
    ["GET / ", 400, version],
    ["GET", 400, method],
    ["GET / http/1.1", 400, version],
    ["GET / HTTP/1.10", 400, version],
    ["GET / HTTP/1", 400, version],
    ["GET / HTTPS/1.1", 400, version],
    ["GET / HTTP/1.x", 400, version],
    ["GET / HTTP/2.0", 505, version],
    ["GET / HTTP/1.2", 505, version],
    ["GET / HTTP/0.9", 505, version],
  ];
  for (const [line, status, message] of cases) {
    assertStatus(() => req(`${line}\r\nHost: h\r\n\r\n`), status, JSON.stringify(line), message);
  }
});

Deno.test("parseRequestHead() rejects a bad request line before the head is complete", () => {
  assertStatus(() => req("GET / HTTP/2.0\r\nHost: h\r\n"), 505, "version");
  assertStatus(() => req("GET  / HTTP/1.1\r\n"), 400, "double space");
});

Deno.test("parseRequestHead() rejects bare LF line endings anywhere in the head", () => {
  const cases = [
    "GET / HTTP/1.1\nHost: h\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\n\n",
    "GET / HTTP/1.1\r\n\n",
    "GET / HTTP/1.1\n\n",
  ];
  for (const text of cases) assertStatus(() => req(text), 400, JSON.stringify(text), /bare LF/);
  // Detected as soon as the LF arrives, without waiting for a terminator that may never come.
  assertStatus(() => req("GET / HTTP/1.1\r\nHost: h\nX"), 400, "early", /bare LF/);
});

Deno.test("parseRequestHead() rejects malformed header field lines", () => {
  const fold = /folding/;
  const value = /field value/;
  const cases: [string, string, RegExp][] = [
    ["obs-fold with SP", "Host: h\r\n folded", fold],
    ["obs-fold with HTAB", "Host: h\r\n\tfolded", fold],
    ["whitespace before the first field", " Host: h", fold],
    ["SP between name and colon", "Host : h", /Whitespace between/],
    ["HTAB between name and colon", "Host\t: h", /Whitespace between/],
    ["empty name", "Host: h\r\n: v", /Empty header field name/],
    ["no colon", "Host: h\r\nX-A v", /Whitespace between/],
    ["no colon at all", "Host: h\r\nX-A", /no colon/],
    ["non-token name", "Host: h\r\nX(A): v", /field name/],
    ["non-ASCII name", "Host: h\r\nX\xe9: v", /field name/],
    ["NUL in value", "Host: h\r\nX: a\x00b", value],
    ["control in value", "Host: h\r\nX: a\x01b", value],
    ["DEL in value", "Host: h\r\nX: a\x7fb", value],
    ["ESC in value", "Host: h\r\nX: \x1b[0m", value],
    ["bare CR in value", "Host: h\r\nX: a\rb", value],
    ["bare CR as a line", "Host: h\r\n\rX: v", /field name/],
    // Bytes next to the optional whitespace a value is trimmed of are checked all the same.
    ["NUL after leading whitespace", "Host: h\r\nX: \t\x00", value],
    ["DEL before trailing whitespace", "Host: h\r\nX:  a\x7f \t", value],
    ["control right after the colon", "Host: h\r\nX:\x01", value],
    ["control between whitespace", "Host: h\r\nX: \x0b ", value],
  ];
  for (const [label, fields, message] of cases) {
    assertStatus(() => req(`GET / HTTP/1.1\r\n${fields}\r\n\r\n`), 400, label, message);
  }
  equal(req("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\r\n\r\n")?.headers[1][1], "a\tb");
  // A value of nothing but whitespace is empty; inner whitespace stays.
  deepEqual(req("GET / HTTP/1.1\r\nHost: h\r\nX: \t \r\nY:\t a  b \r\n\r\n")?.headers.slice(1), [
    ["X", ""],
    ["Y", "a  b"],
  ]);
});

Deno.test("parseRequestHead() rejects duplicate Host fields and an HTTP/1.1 request without Host", () => {
  const two = "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n";
  assertStatus(() => req(two), 400, "two Host", /more than one Host/);
  assertStatus(() => req("GET / HTTP/1.1\r\nX: y\r\n\r\n"), 400, "no Host", /no Host/);
});

Deno.test("parseRequestHead() answers 414 as soon as maxRequestLine bytes lack a CRLF", () => {
  const limits = { maxRequestLine: 32, maxHeaderBytes: 1024, maxHeaderCount: 10 };
  const line = "GET /" + "a".repeat(100);
  equal(parseRequestHead(bytes(line.slice(0, 31)), limits), null);
  assertStatus(() => parseRequestHead(bytes(line.slice(0, 32)), limits), 414, "at limit");
  // A complete line must fit too, CRLF included.
  const fits = "GET /" + "a".repeat(32 - 16) + " HTTP/1.1\r\n";
  equal(fits.length, 32);
  ok(parseRequestHead(bytes(fits + "Host: h\r\n\r\n"), limits));
  assertStatus(() => parseRequestHead(bytes("GET /a" + fits.slice(5)), limits), 414, "one over");
});

Deno.test("parseRequestHead() answers 431 as soon as maxHeaderBytes are buffered without an end", () => {
  const limits = { maxRequestLine: 64, maxHeaderBytes: 64, maxHeaderCount: 10 };
  const start = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  const exact = start + "v".repeat(64 - start.length - 4) + "\r\n\r\n";
  equal(exact.length, 64);
  equal(parseRequestHead(bytes(exact), limits)?.headBytes, 64);
  const over = start + "v".repeat(64 - start.length - 3) + "\r\n\r\n";
  assertStatus(() => parseRequestHead(bytes(over), limits), 431, "complete but one over");
  const open = start + "v".repeat(100);
  equal(parseRequestHead(bytes(open.slice(0, 63)), limits), null);
  assertStatus(() => parseRequestHead(bytes(open.slice(0, 64)), limits), 431, "open at limit");
});

Deno.test("parseRequestHead() answers 431 for more than maxHeaderCount fields", () => {
  const limits = { maxHeaderCount: 3 };
  const head = (n: number) => bytes(`GET / HTTP/1.1\r\nHost: h\r\n${"X: y\r\n".repeat(n - 1)}\r\n`);
  equal(parseRequestHead(head(3), limits)?.headers.length, 3);
  assertStatus(() => parseRequestHead(head(4), limits), 431, "four fields");
});

const res = (s: string) => parseResponseHead(bytes(s));

Deno.test("parseResponseHead() parses status, reason and headers", () => {
  const text = "HTTP/1.1 404 Not \xc4 Found\r\nContent-Length: 3\r\n\r\nabc";
  deepEqual(res(text), {
    version: "HTTP/1.1",
    status: 404,
    reason: "Not \u00c4 Found",
    headers: [["Content-Length", "3"]],
    headBytes: text.length - 3,
  });
  equal(res("HTTP/1.0 200 OK\r\n\r\n")?.version, "HTTP/1.0");
});

Deno.test("parseResponseHead() accepts an empty reason with or without its SP", () => {
  equal(res("HTTP/1.1 200\r\n\r\n")?.reason, "");
  equal(res("HTTP/1.1 204 \r\n\r\n")?.status, 204);
});

Deno.test("parseResponseHead() reports every fault as 502, limits included", () => {
  const cases = [
    "HTTP/2 200 OK\r\n\r\n",
    "HTTP/2.0 200 OK\r\n\r\n",
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/1.1 2000 OK\r\n\r\n",
    "HTTP/1.1 099 Low\r\n\r\n",
    "HTTP/1.1 600 High\r\n\r\n",
    "HTTP/1.1  200 OK\r\n\r\n",
    "HTTP/1.1 2x0 OK\r\n\r\n",
    "HTTP/1.1 200 O\x00K\r\n\r\n",
    "HTTP/1.1 200 OK\n\r\n",
    "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
    "HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
    "http/1.1 200 OK\r\n\r\n",
  ];
  for (const text of cases) assertStatus(() => res(text), 502, JSON.stringify(text));
  const limits = { maxRequestLine: 16, maxHeaderBytes: 40, maxHeaderCount: 1 };
  assertStatus(
    () => parseResponseHead(bytes("HTTP/1.1 200 OK OK"), limits),
    502,
    "long line",
  );
  assertStatus(
    () => parseResponseHead(bytes("HTTP/1.1 200\r\nA: " + "b".repeat(40)), limits),
    502,
    "big head",
  );
  assertStatus(
    () => parseResponseHead(bytes("HTTP/1.1 200\r\nA: b\r\nC: d\r\n\r\n"), limits),
    502,
    "many fields",
  );
});

Deno.test("parseRequestHead() reaches the same outcome on mutated input fed whole or byte by byte", () => {
  const base = [...bytes("GET /x HTTP/1.1\r\nHost: h\r\nA: b c\r\n\r\n")];
  const special = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x80, 0x2f];
  const pick = new SeededRng(5).int;
  const outcome = (run: () => RequestHead | null) => {
    try {
      return run();
    } catch (e) {
      if (e instanceof HttpParseError) return e.status;
      throw e;
    }
  };
  for (let iteration = 0; iteration < 2000; iteration++) {
    const mutated = [...base];
    for (let m = 1 + pick(3); m > 0; m--) {
      const at = pick(mutated.length + 1);
      const value = pick(10) < 7 ? special[pick(special.length)] : pick(256);
      if (pick(2) === 0) mutated[at] = value;
      else mutated.splice(at, 0, value);
    }
    const buf = Uint8Array.from(mutated);
    const whole = outcome(() => parseRequestHead(buf));
    const incremental = outcome(() => {
      for (let n = 1; n <= buf.length; n++) {
        const head = parseRequestHead(buf.subarray(0, n), undefined, n - 1);
        if (head !== null) return head;
      }
      return null;
    });
    deepEqual(incremental, whole, JSON.stringify(String.fromCharCode(...buf)));
  }
});
