import { deepEqual, equal, throws } from "node:assert/strict";
import { parseRequestHead, parseResponseHead } from "./_head.ts";
import { serializeRequestHead, serializeResponseHead } from "./_serialize.ts";

function text(parts: Uint8Array | Uint8Array[]): string {
  let s = "";
  for (const p of parts instanceof Uint8Array ? [parts] : parts) {
    for (const b of p) s += String.fromCharCode(b);
  }
  return s;
}

Deno.test("serializeRequestHead() output parses back to the same head", () => {
  const headers: [string, string][] = [["Host", "h"], ["X-Latin", "caf\u00e9\tb"], ["Empty", ""]];
  for (const target of ["/p?q=1", "http://h/x", "h:443", "*"]) {
    const wire = serializeRequestHead("CONNECT", target, headers);
    const head = parseRequestHead(wire);
    deepEqual(head, {
      method: "CONNECT",
      target,
      version: "HTTP/1.1",
      headers,
      headBytes: wire.length,
    });
  }
  equal(
    text(serializeRequestHead("GET", "/", [["Host", "h"]])),
    "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
  );
});

Deno.test("serializeResponseHead() output parses back to the same head", () => {
  const headers: [string, string][] = [["Content-Length", "0"], ["Set-Cookie", "a=b"]];
  const wire = serializeResponseHead(403, "Forbidden by policy", headers);
  equal(text(wire).split("\r\n")[0], "HTTP/1.1 403 Forbidden by policy");
  deepEqual(parseResponseHead(wire), {
    version: "HTTP/1.1",
    status: 403,
    reason: "Forbidden by policy",
    headers,
    headBytes: wire.length,
  });
  equal(parseResponseHead(serializeResponseHead(204, "", []))?.reason, "");
});

Deno.test("serializers refuse CR, LF and NUL anywhere so no value can inject a line", () => {
  for (const bad of ["a\rb", "a\nb", "a\r\nX-Injected: 1", "a\x00b"]) {
    throws(() => serializeRequestHead("GET", "/", [["X", bad]]), TypeError, "value");
    throws(() => serializeRequestHead("GET", "/", [[bad, "v"]]), TypeError, "name");
    throws(() => serializeRequestHead("GET", bad, []), TypeError, "target");
    throws(() => serializeRequestHead(bad, "/", []), TypeError, "method");
    throws(() => serializeResponseHead(200, bad, []), TypeError, "reason");
    throws(() => serializeResponseHead(200, "OK", [["X", bad]]), TypeError, "response value");
  }
});

Deno.test("serializers refuse what the parser would reject or misread", () => {
  throws(() => serializeRequestHead("GET", "/a b", []), TypeError);
  throws(() => serializeRequestHead("GET", "", []), TypeError);
  throws(() => serializeRequestHead("GET", "/", [["X Y", "v"]]), TypeError);
  throws(() => serializeRequestHead("GET", "/", [["X:", "v"]]), TypeError);
  throws(() => serializeRequestHead("GET", "/", [["", "v"]]), TypeError);
  throws(() => serializeRequestHead("GET", "/", [["X", "\u20ac"]]), TypeError, "not Latin-1");
  throws(() => serializeRequestHead("GET", "/", [["X", "\x7f"]]), TypeError, "DEL");
  throws(() => serializeResponseHead(99, "Low", []), RangeError);
  throws(() => serializeResponseHead(600, "High", []), RangeError);
  throws(() => serializeResponseHead(200.5, "OK", []), RangeError);
});
