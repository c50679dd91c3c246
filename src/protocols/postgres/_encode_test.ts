import { deepEqual, equal, throws } from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import { serialize } from "npm:pg-protocol@1.16.1";
import {
  ByteQueue,
  cancelRequest,
  describeStatement,
  passwordMessage,
  query,
  saslInitialResponse,
  saslResponse,
  sslRequest,
  startupMessage,
  sync,
  terminate,
  Writer,
} from "./_encode.ts";
import { FrontendDecoder } from "./_frontend.ts";

const te = new TextEncoder();
const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);

Deno.test("encode: byte-for-byte equal to pg-protocol's serializer", () => {
  const long = "select '" + "é✓😀".repeat(20000) + "'";
  const pairs: [string, Uint8Array, Uint8Array][] = [
    [
      "startup",
      startupMessage([["user", "ann"], ["database", "db é"], ["client_encoding", "UTF8"]]),
      serialize.startup({ user: "ann", database: "db é" }), // appends client_encoding itself
    ],
    ["ssl", sslRequest(), serialize.requestSsl()],
    [
      "cancel",
      cancelRequest(4242, new Uint8Array([0x80, 1, 2, 3])),
      serialize.cancel(4242, 0x80010203 | 0),
    ],
    ["password", passwordMessage("pässword"), serialize.password("pässword")],
    [
      "sasl initial",
      saslInitialResponse("SCRAM-SHA-256", te.encode("n,,n=*,r=rOprNGfwEbeRWgbNEkqO")),
      serialize.sendSASLInitialResponseMessage("SCRAM-SHA-256", "n,,n=*,r=rOprNGfwEbeRWgbNEkqO"),
    ],
    [
      "sasl response",
      saslResponse(te.encode("c=biws,r=abc,p=xyz")),
      serialize.sendSCRAMClientFinalMessage("c=biws,r=abc,p=xyz"),
    ],
    ["describe named", describeStatement("s1"), serialize.describe({ type: "S", name: "s1" })],
    ["describe unnamed", describeStatement(""), serialize.describe({ type: "S" })],
    ["sync", sync(), serialize.sync()],
    ["terminate", terminate(), serialize.end()],
    ["query", query("select 1"), serialize.query("select 1")],
    ["query unicode, long", query(long), serialize.query(long)],
    ["query empty", query(""), serialize.query("")],
  ];
  for (const [label, ours, theirs] of pairs) deepEqual(u8(ours), u8(theirs), label);
});

Deno.test("encode: output decodes with FrontendDecoder", () => {
  const d = new FrontendDecoder({ maxMessageBytes: 1 << 20 });
  const secret = new Uint8Array(32).map((_, i) => 255 - i);
  d.push(cancelRequest(-5, secret));
  deepEqual(d.nextStartup(), { kind: "cancel", pid: -5, secret, raw: cancelRequest(-5, secret) });
  d.push(startupMessage([["user", "u"], ["options", "-c x=1"]]));
  const s = d.nextStartup();
  deepEqual(s?.kind === "startup" && s.params, [["user", "u"], ["options", "-c x=1"]]);
  d.push(startupMessage([]));
  deepEqual(d.nextStartup()?.kind, "startup");
  for (
    const m of [
      query("select ✓"),
      describeStatement("st"),
      sync(),
      terminate(),
      saslResponse(new Uint8Array(0)),
    ]
  ) {
    d.push(m);
    deepEqual(d.next()?.raw, m);
  }
});

Deno.test("encode: NUL in a C string and empty startup names are refused, not truncated", () => {
  throws(() => query("select 1\0; drop table t"), RangeError);
  throws(() => passwordMessage("a\0b"), RangeError);
  throws(() => startupMessage([["user", "u\0database\0postgres"]]), RangeError);
  throws(() => startupMessage([["", "x"]]), RangeError);
  throws(() => saslInitialResponse("SCRAM\0", new Uint8Array(0)), RangeError);
  throws(() => describeStatement("a\0"), RangeError);
});

Deno.test("encode: Writer grows and fills the length word", () => {
  const w = new Writer("Q", 1);
  const big = "x".repeat(100000);
  const out = w.int16(0x1234).int32(-1).byte(0xff).bytes(new Uint8Array([9, 8])).cstring(big)
    .finish();
  equal(out.length, 1 + 4 + 2 + 4 + 1 + 2 + big.length + 1);
  deepEqual(Array.from(out.subarray(0, 14)), [
    0x51,
    0,
    1,
    0x86,
    0xae,
    0x12,
    0x34,
    255,
    255,
    255,
    255,
    255,
    9,
    8,
  ]);
  equal(new DataView(out.buffer, out.byteOffset).getUint32(1), out.length - 1);
  const untyped = new Writer().int32(7).finish();
  deepEqual(Array.from(untyped), [0, 0, 0, 8, 0, 0, 0, 7]);
});

Deno.test("encode: ByteQueue reads across chunks and coalesces trickled bytes", () => {
  const q = new ByteQueue();
  const data = new Uint8Array(20000).map((_, i) => i * 7);
  q.push(data.subarray(0, 3));
  for (let i = 3; i < 20000; i += 5) q.push(data.slice(i, i + 5)); // small: copied into owned buffers
  equal(q.length, 20000);
  equal(q.byteAt(9999), data[9999]);
  equal(q.uint32At(1), new DataView(data.buffer).getUint32(1));
  const a = q.take(2);
  const b = q.take(15000); // spans chunks: one copy
  const c = q.take(4998);
  equal(q.length, 0);
  deepEqual([a, b, c], [data.subarray(0, 2), data.subarray(2, 15002), data.subarray(15002)]);
  const big = new Uint8Array(10000).fill(1);
  q.push(big);
  equal(q.take(10).buffer, big.buffer); // whole pushes are views, never copies
  q.push(new Uint8Array([5, 6])); // small after pending bytes: copied, `big` views unaffected
  equal(q.take(9990).buffer, big.buffer);
  deepEqual(Array.from(q.take(2)), [5, 6]);
});
