import { deepEqual, equal, ok } from "node:assert/strict";
import {
  BodyReader,
  headerValues,
  HttpParseError,
  parseRequestHead,
  requestFraming,
  type RequestHead,
  serializeRequestHead,
} from "./_wire.ts";
import { seededRandom } from "../../../tests/_rng.ts";

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

function parseAll(buf: Uint8Array): RequestHead | null {
  const head = parseRequestHead(buf);
  if (head === null) return null;
  const reader = new BodyReader(requestFraming(head), { maxChunkLine: 64 });
  reader.push(buf.subarray(head.headBytes));
  return head;
}

Deno.test("random mutations of valid requests throw nothing but HttpParseError", () => {
  const seeds = [
    "POST /api/v1/x?y=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
    "PUT http://h/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
    "\r\nCONNECT h:443 HTTP/1.0\r\nProxy-Authorization: Basic eA==\r\n\r\n",
  ].map(bytes);
  const special = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x2c, 0x00, 0x7f, 0x80, 0xff, 0x30];
  const random = seededRandom(1234);
  const pick = (n: number) => Math.floor(random() * n);
  let parsed = 0;
  for (let iteration = 0; iteration < 20000; iteration++) {
    const bytesOut = [...seeds[iteration % seeds.length]];
    for (let m = 1 + pick(3); m > 0; m--) {
      const at = pick(bytesOut.length + 1);
      const value = random() < 0.6 ? special[pick(special.length)] : pick(256);
      const op = pick(3);
      if (op === 0) bytesOut[at] = value;
      else if (op === 1) bytesOut.splice(at, 0, value);
      else bytesOut.splice(at, 1);
    }
    const buf = Uint8Array.from(bytesOut);
    let head: RequestHead | null = null;
    try {
      head = parseAll(buf);
    } catch (e) {
      if (e instanceof HttpParseError) continue;
      throw new Error(`Non-HttpParseError for ${JSON.stringify(text(buf))}: ${e}`);
    }
    if (head === null) continue;
    parsed++;
    // Whatever was accepted must survive a serialise-and-reparse round trip unchanged.
    // (An HTTP/1.0 head may lack Host; re-sent as HTTP/1.1 it needs one.)
    const extra: [string, string][] = headerValues(head.headers, "host").length
      ? []
      : [["Host", "h"]];
    const wire = serializeRequestHead(head.method, head.target, [...head.headers, ...extra]);
    const again = parseRequestHead(wire);
    deepEqual(again?.headers, [...head.headers, ...extra], JSON.stringify(text(buf)));
    equal(again?.target, head.target);
  }
  ok(parsed > 1000, `only ${parsed} mutations parsed; the fuzz is not reaching the happy path`);
});
