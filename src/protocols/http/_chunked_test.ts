import { deepEqual, equal, ok } from "node:assert/strict";
import {
  ChunkedDecoder,
  type ChunkedLimits,
  chunkFraming,
  encodeChunk,
  LAST_CHUNK,
} from "./_chunked.ts";
import { HttpParseError } from "./_head.ts";
import { seededRandom } from "../../../tests/_rng.ts";
import { splits } from "../../../tests/_splits.ts";
import { assertStatus } from "./_parse_testing.ts";

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function text(parts: Uint8Array[]): string {
  let s = "";
  for (const p of parts) for (const b of p) s += String.fromCharCode(b);
  return s;
}

/** Feeds `pieces` in order; returns decoded text, total bytes consumed and whether it finished. */
function decode(pieces: Uint8Array[], limits?: ChunkedLimits) {
  const d = new ChunkedDecoder(limits);
  const out: Uint8Array[] = [];
  let consumed = 0;
  for (const p of pieces) consumed += d.push(p, out);
  return { body: text(out), consumed, done: d.done, decoded: d.bytesDecoded };
}

const BODY = '4;foo=bar\r\nWiki\r\n5;a;b="c d"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n' +
  "0000000000000010\r\n0123456789abcdef\r\n0;last\r\nExpires: never\r\nX-T:\t\xe9 \r\n\r\n";
const DECODED = "Wikipedia in\r\n\r\nchunks.0123456789abcdef";

Deno.test("ChunkedDecoder decodes chunks with extensions and discards trailers", () => {
  deepEqual(decode([bytes(BODY)]), {
    body: DECODED,
    consumed: BODY.length,
    done: true,
    decoded: DECODED.length,
  });
});

Deno.test("ChunkedDecoder gives identical output fed one byte at a time, cut anywhere or in random splits", () => {
  const whole = bytes(BODY);
  const expected = decode([whole]);
  const ways = splits(whole, {
    seed: 42,
    rounds: 200,
    pieceLength: (random) => 1 + Math.floor(random() * 12),
  });
  ways.forEach((pieces, i) => deepEqual(decode(pieces), expected, `split ${i}`));
});

Deno.test("ChunkedDecoder consumes only its own bytes when the next message follows", () => {
  const next = "GET / HTTP/1.1\r\n";
  const d = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  equal(d.push(bytes("3\r\nabc\r\n0\r\n\r\n" + next), out), 13);
  ok(d.done);
  equal(text(out), "abc");
  equal(d.push(bytes(next), out), 0);
  // Byte at a time: nothing past the final LF is consumed either.
  const all = bytes("1\r\nx\r\n0\r\n\r\nGET");
  const e = new ChunkedDecoder();
  let consumed = 0;
  for (const b of all) consumed += e.push(Uint8Array.of(b), []);
  equal(consumed, all.length - 3);
});

Deno.test("ChunkedDecoder returns data as views into the input, not copies", () => {
  const input = bytes("5\r\nhello\r\n");
  const out: Uint8Array[] = [];
  new ChunkedDecoder().push(input, out);
  equal(out[0].buffer, input.buffer);
  equal(out[0].byteOffset, 3);
});

Deno.test("ChunkedDecoder accepts either hex case and the largest safe size", () => {
  equal(decode([bytes("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n")]).decoded, 20);
  const d = new ChunkedDecoder();
  equal(d.push(bytes("1fffffffffffff\r\nab"), []), 18);
  equal(d.bytesDecoded, 2);
});

Deno.test("ChunkedDecoder rejects chunk sizes that are not plain 1*HEXDIG", () => {
  const cases: [string, string][] = [
    ["leading space", " 3\r\nabc\r\n"],
    ["trailing space", "3 \r\nabc\r\n"],
    ["space before extension", "3 ;x\r\nabc\r\n"],
    ["tab", "3\t\r\nabc\r\n"],
    ["0x prefix", "0x3\r\nabc\r\n"],
    ["plus sign", "+3\r\nabc\r\n"],
    ["minus sign", "-3\r\nabc\r\n"],
    ["empty size", "\r\nabc\r\n"],
    ["extension without size", ";x\r\nabc\r\n"],
    ["non-hex", "g\r\n"],
    ["17 digits", "00000000000000003\r\nabc\r\n"],
    ["2^53", "20000000000000\r\n"],
    ["underscore", "1_0\r\n"],
  ];
  for (const [label, input] of cases) {
    assertStatus(() => decode([bytes(input)]), 400, label, /[Cc]hunk size/);
  }
});

Deno.test("ChunkedDecoder rejects bare LF, bare CR and controls in chunk framing", () => {
  const cases: [string, string, RegExp][] = [
    ["bare LF after size", "3\nabc\r\n0\r\n\r\n", /chunk size/],
    ["bare CR after size", "3\rabc\r\n0\r\n\r\n", /CRLF/],
    ["LF in extension", "3;a\nb\r\nabc\r\n0\r\n\r\n", /extension/],
    ["NUL in extension", "3;a\x00\r\nabc\r\n0\r\n\r\n", /extension/],
    ["bare LF after data", "3\r\nabc\n0\r\n\r\n", /not followed by CRLF/],
    ["data longer than size", "3\r\nabcd\r\n0\r\n\r\n", /not followed by CRLF/],
    ["junk then LF after data", "3\r\nabcX\n0\r\n\r\n", /not followed by CRLF/],
    ["two LFs after data", "3\r\nabc\n\n0\r\n\r\n", /not followed by CRLF/],
    ["CR without LF after data", "3\r\nabc\r0\r\n\r\n", /not followed by CRLF/],
    ["bare LF ending the body", "0\r\n\n", /start of trailer/],
    ["CR without LF ending the body", "0\r\n\rX", /does not end in CRLF/],
  ];
  for (const [label, input, message] of cases) {
    assertStatus(() => decode([bytes(input)]), 400, label, message);
  }
});

Deno.test("ChunkedDecoder bounds the chunk line, extensions included", () => {
  const limits = { maxChunkLine: 16 };
  const line = "3;" + "e".repeat(12) + "\r\n";
  equal(line.length, 16);
  ok(decode([bytes(line + "abc\r\n0\r\n\r\n")], limits).done);
  const long = "3;" + "e".repeat(13) + "\r\n";
  assertStatus(() => decode([bytes(long)], limits), 400, "one over", /longer than 16/);
  // Rejected while still open, before any CRLF arrives.
  assertStatus(() => decode([bytes("3;" + "e".repeat(100))], limits), 400, "open", /longer/);
});

Deno.test("ChunkedDecoder validates trailers like header fields", () => {
  const cases: [string, string, RegExp][] = [
    ["obs-fold", "0\r\nA: b\r\n c\r\n\r\n", /folding/],
    ["space before colon", "0\r\nA : b\r\n\r\n", /field name/],
    ["empty name", "0\r\n: b\r\n\r\n", /start of trailer/],
    ["NUL in value", "0\r\nA: \x00\r\n\r\n", /trailer value/],
    ["bare LF after field", "0\r\nA: b\n\r\n", /trailer value/],
    ["CR without LF after field", "0\r\nA: b\rX\r\n\r\n", /CRLF/],
  ];
  for (const [label, input, message] of cases) {
    assertStatus(() => decode([bytes(input)]), 400, label, message);
  }
});

Deno.test("ChunkedDecoder answers 431 for a trailer section over maxTrailerBytes", () => {
  const limits = { maxTrailerBytes: 12 };
  ok(decode([bytes("0\r\nA: 12345\r\n\r\n")], limits).done); // 12 bytes after the last chunk
  assertStatus(() => decode([bytes("0\r\nA: 123456\r\n\r\n")], limits), 431, "one over");
});

Deno.test("encodeChunk() frames data as hex size, CRLF, data, CRLF", () => {
  equal(text([encodeChunk(bytes("hello"))]), "5\r\nhello\r\n");
  const big = new Uint8Array(255).fill(0x61);
  equal(text([encodeChunk(big)]).slice(0, 4), "ff\r\n");
  equal(text([LAST_CHUNK]), "0\r\n\r\n");
});

Deno.test("chunkFraming() around data gives encodeChunk()'s bytes, at every size-line length", () => {
  for (const length of [1, 9, 15, 16, 255, 256, 4095, 4096, 65535, 65536, 1048577]) {
    const data = new Uint8Array(length).fill(0x61 + (length % 26));
    const { head, end } = chunkFraming(length);
    equal(text([head]), `${length.toString(16)}\r\n`);
    equal(text([end]), "\r\n");
    equal(text([head, data, end]), text([encodeChunk(data)]));
  }
});

Deno.test("encodeChunk() encodes empty data as nothing so it cannot end the body early", () => {
  equal(encodeChunk(new Uint8Array(0)).length, 0);
});

Deno.test("encodeChunk() output decodes back to the same bytes", () => {
  const random = seededRandom(7);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    const piece = new Uint8Array(Math.floor(random() * 300));
    for (let j = 0; j < piece.length; j++) piece[j] = Math.floor(random() * 256);
    pieces.push(piece);
  }
  const encoded = [...pieces.map(encodeChunk), LAST_CHUNK];
  const result = decode(encoded);
  ok(result.done);
  equal(result.body, text(pieces));
});

/** Decodes and reports the outcome as comparable data: output and consumed, or the error status. */
function outcome(pieces: Uint8Array[]): unknown {
  try {
    return decode(pieces, { maxChunkLine: 32, maxTrailerBytes: 48 });
  } catch (e) {
    if (e instanceof HttpParseError) return e.status;
    throw e;
  }
}

Deno.test("ChunkedDecoder reaches the same outcome on mutated input however it is split", () => {
  const base = [...bytes(BODY.replace("0000000000000010", "10"))];
  const special = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x00, 0x30, 0x61, 0x80];
  const random = seededRandom(99);
  const pick = (n: number) => Math.floor(random() * n);
  for (let iteration = 0; iteration < 2000; iteration++) {
    const mutated = [...base];
    for (let m = 1 + pick(3); m > 0; m--) {
      const at = pick(mutated.length + 1);
      const value = random() < 0.7 ? special[pick(special.length)] : pick(256);
      if (random() < 0.5) mutated[at] = value;
      else mutated.splice(at, 0, value);
    }
    const whole = Uint8Array.from(mutated);
    const expected = outcome([whole]);
    const single = outcome(mutated.map((b) => Uint8Array.of(b)));
    deepEqual(single, expected, JSON.stringify(text([whole])));
  }
});
