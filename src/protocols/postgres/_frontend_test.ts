import { deepEqual, equal, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import { serialize } from "npm:pg-protocol@1.16.1";
import {
  FrontendDecoder,
  type FrontendMessage,
  ProtocolError,
  type StartupPacket,
} from "./_frontend.ts";
import { concatBytes } from "../../core/mod.ts";
import { seededRandom } from "../../../tests/_rng.ts";
import { type PieceLength, splits } from "../../../tests/_splits.ts";

const te = new TextEncoder();
/** A message without its raw bytes (distributes over the union). */
type NoRaw<T> = T extends unknown ? Omit<T, "raw"> : never;
const MAX = 1 << 20;

/** A copy as a plain Uint8Array (pg-protocol returns Buffers). */
const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);

/** Hand-built typed message: type, int32 length, body. */
function msg(type: string, ...parts: (Uint8Array | number[] | string)[]): Uint8Array {
  const body = concatBytes(
    parts.map((p) =>
      typeof p === "string" ? te.encode(p) : p instanceof Uint8Array ? p : new Uint8Array(p)
    ),
  );
  return concatBytes([new Uint8Array([type.charCodeAt(0)]), be32(body.length + 4), body]);
}

function be32(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, n >>> 16, n >>> 8, n]);
}

/** Hand-built startup-phase packet. */
function packet(...parts: (Uint8Array | number[] | string)[]): Uint8Array {
  return msg("x", ...parts).subarray(1); // the length word counts itself, as in typed messages
}

function decodeAll<T>(pieces: Uint8Array[], pull: (d: FrontendDecoder) => T | null): T[] {
  const d = new FrontendDecoder({ maxMessageBytes: MAX });
  const out: T[] = [];
  for (const p of pieces) {
    d.push(p);
    for (let m = pull(d); m !== null; m = pull(d)) out.push(m);
  }
  equal(d.buffered, 0);
  return out;
}

const typed = (pieces: Uint8Array[]) => decodeAll(pieces, (d) => d.next());
const startup = (pieces: Uint8Array[]) => decodeAll(pieces, (d) => d.nextStartup());

/** Piece lengths mostly small, sometimes above the decoder's SMALL_CHUNK. */
const SKEWED_PIECES: PieceLength = (r) => 1 + Math.floor(r() * r() * 9000);

function throwsProtocol(
  fn: () => unknown,
  code: string,
  label: string,
  re?: RegExp,
): ProtocolError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    equal(e.code, code, `${label}: ${e.message}`);
    if (re) ok(re.test(e.message), `${label}: '${e.message}' does not match ${re}`);
    return e;
  }
  throw new Error(`expected ProtocolError ${code}: ${label}`);
}

/** Feeds `bytes` to a fresh decoder and pulls until null; returns what came out. */
function feed(bytes: Uint8Array, phase: "startup" | "typed"): unknown[] {
  const d = new FrontendDecoder({ maxMessageBytes: MAX });
  d.push(bytes);
  const out: unknown[] = [];
  for (;;) {
    const m = phase === "startup" ? d.nextStartup() : d.next();
    if (m === null) return out;
    out.push(m);
  }
}

// One of every client message, from an independent encoder where it has one.
const utf8 = "sélect '✓😀' -- " + "x".repeat(40) + "é";
const cases: [Uint8Array, NoRaw<FrontendMessage>][] = [
  [u8(serialize.query("select 1")), { type: "query", sql: "select 1" }],
  [u8(serialize.query(utf8)), { type: "query", sql: utf8 }],
  [u8(serialize.query("\uFEFFselect")), { type: "query", sql: "\uFEFFselect" }],
  [u8(serialize.query("")), { type: "query", sql: "" }],
  [
    u8(serialize.parse({ name: "s1", text: "select $1, $2", types: [23, 4294967295] })),
    { type: "parse", name: "s1", sql: "select $1, $2", paramTypes: [23, 4294967295] },
  ],
  [u8(serialize.parse({ text: "select 2" })), {
    type: "parse",
    name: "",
    sql: "select 2",
    paramTypes: [],
  }],
  [
    u8(
      serialize.bind({
        portal: "p",
        statement: "s1",
        values: ["1", null, Buffer.from([1, 0, 2])],
        binary: true,
      }),
    ),
    {
      type: "bind",
      portal: "p",
      statement: "s1",
      paramFormats: [0, 0, 1],
      params: [te.encode("1"), null, new Uint8Array([1, 0, 2])],
      resultFormats: [1],
    },
  ],
  [
    u8(serialize.bind({ values: ["", "héllo"] })),
    {
      type: "bind",
      portal: "",
      statement: "",
      paramFormats: [0, 0],
      params: [new Uint8Array(0), te.encode("héllo")],
      resultFormats: [0],
    },
  ],
  [u8(serialize.execute()), { type: "execute", portal: "", maxRows: 0 }],
  [u8(serialize.execute({ portal: "p", rows: 3000000000 })), {
    type: "execute",
    portal: "p",
    maxRows: 3000000000,
  }],
  [u8(serialize.describe({ type: "S", name: "s1" })), {
    type: "describe",
    target: "S",
    name: "s1",
  }],
  [u8(serialize.describe({ type: "P" })), { type: "describe", target: "P", name: "" }],
  [u8(serialize.close({ type: "S", name: "s1" })), { type: "close", target: "S", name: "s1" }],
  [u8(serialize.close({ type: "P" })), { type: "close", target: "P", name: "" }],
  [u8(serialize.sync()), { type: "sync" }],
  [u8(serialize.flush()), { type: "flush" }],
  [u8(serialize.end()), { type: "terminate" }],
  [u8(serialize.copyData(Buffer.from("1\tone\n"))), { type: "copy_data" }],
  [u8(serialize.copyDone()), { type: "copy_done" }],
  [u8(serialize.copyFail("no more")), { type: "copy_fail", message: "no more" }],
  [u8(serialize.password("s3cret")), { type: "password", data: te.encode("s3cret\0") }],
  [
    u8(serialize.sendSASLInitialResponseMessage("SCRAM-SHA-256", "n,,n=*,r=abc")),
    {
      type: "password",
      data: concatBytes([te.encode("SCRAM-SHA-256\0"), be32(12), te.encode("n,,n=*,r=abc")]),
    },
  ],
  [
    u8(serialize.sendSCRAMClientFinalMessage("c=biws,r=abc,p=xyz")),
    { type: "password", data: te.encode("c=biws,r=abc,p=xyz") },
  ],
  // FunctionCall (no pg-protocol encoder): oid 1598, two formats, two args (one NULL), result 1.
  [
    msg("F", be32(1598), [0, 2, 0, 0, 0, 1], [0, 2], be32(2), "42", be32(0xffffffff), [0, 1]),
    { type: "function_call", oid: 1598 },
  ],
];
const typedStream = concatBytes(cases.map(([raw]) => raw));

function expected(): FrontendMessage[] {
  return cases.map(([raw, m]) => ({ ...m, raw }) as FrontendMessage);
}

Deno.test("frontend: every message type round-trips from pg-protocol's serializer", () => {
  for (const [raw, m] of cases) deepEqual(typed([raw]), [{ ...m, raw }], m.type);
  deepEqual(typed([typedStream]), expected());
});

Deno.test("frontend: any split of the stream decodes identically and raw covers it exactly", () => {
  for (const pieces of splits(typedStream, { pieceLength: SKEWED_PIECES })) {
    const got = typed(pieces);
    deepEqual(got, expected());
    deepEqual(concatBytes(got.map((m) => m.raw)), typedStream);
  }
});

Deno.test("frontend: views stay valid after later pushes, and whole pushes are not copied", () => {
  const d = new FrontendDecoder({ maxMessageBytes: MAX });
  const chunk = typedStream.slice();
  d.push(chunk);
  const first = d.next()!;
  equal(first.raw.buffer, chunk.buffer); // a view, not a copy
  const held: FrontendMessage[] = [first];
  for (let m = d.next(); m !== null; m = d.next()) held.push(m);
  for (let i = 0; i < 200; i++) { // trickle more through the owned buffer
    const next = typedStream.slice();
    for (let j = 0; j < next.length; j += 7) d.push(next.subarray(j, j + 7));
    for (let m = d.next(); m !== null; m = d.next()) held.push(m);
  }
  equal(held.length, cases.length * 201);
  held.forEach((m, i) => deepEqual(m.raw, cases[i % cases.length][0]));
});

Deno.test("frontend: truncated messages return null until their last byte", () => {
  for (const [raw, m] of cases) {
    const d = new FrontendDecoder({ maxMessageBytes: MAX });
    for (let i = 0; i < raw.length - 1; i++) {
      d.push(raw.subarray(i, i + 1));
      equal(d.next(), null, m.type);
      equal(d.buffered, i + 1);
    }
    d.push(raw.subarray(raw.length - 1));
    deepEqual(d.next(), { ...m, raw });
    equal(d.buffered, 0);
  }
});

const startupCases: [Uint8Array, NoRaw<StartupPacket>][] = [
  [
    u8(serialize.startup({ user: "ann", database: "db" })),
    {
      kind: "startup",
      major: 3,
      minor: 0,
      params: [["user", "ann"], ["database", "db"], ["client_encoding", "UTF8"]],
    },
  ],
  [packet([0, 3, 0, 2], "user\0ünï\0user\0b\0opt\0\0\0"), {
    kind: "startup",
    major: 3,
    minor: 2,
    params: [["user", "ünï"], ["user", "b"], ["opt", ""]],
  }],
  [packet([0, 3, 0, 0], [0]), { kind: "startup", major: 3, minor: 0, params: [] }],
  [u8(serialize.requestSsl()), { kind: "ssl_request" }],
  [packet(be32(80877104)), { kind: "gssenc_request" }],
  [u8(serialize.cancel(4242, 0x0102fffe)), {
    kind: "cancel",
    pid: 4242,
    secret: new Uint8Array([1, 2, 255, 254]),
  }],
  [packet(be32(80877102), be32(7), new Uint8Array(32).fill(9)), {
    kind: "cancel",
    pid: 7,
    secret: new Uint8Array(32).fill(9),
  }],
];
const startupStream = concatBytes(startupCases.map(([raw]) => raw));

Deno.test("frontend: startup packets decode, from one push or split anywhere", () => {
  const want = startupCases.map(([raw, p]) => ({ ...p, raw }));
  for (const pieces of splits(startupStream, { seed: 2, pieceLength: SKEWED_PIECES })) {
    deepEqual(startup(pieces), want);
  }
});

Deno.test("frontend: malformed startup packets throw 08P01 (oversize 54000, bad major 0A000)", () => {
  const bad: [string, Uint8Array, string?][] = [
    ["length 4", be32(4)],
    ["length 7", concatBytes([be32(7), [0, 3, 0]].map((p) => new Uint8Array(p)))],
    ["unknown request code", packet([0x04, 0xd2, 0x16, 0x31])],
    ["ssl request with a body", packet(be32(80877103), [0, 0, 0, 0])],
    ["gssenc request with a body", packet(be32(80877104), [0])],
    ["cancel without key", packet(be32(80877102), be32(1))],
    ["cancel with a 2-byte key", packet(be32(80877102), be32(1), [1, 2])],
    ["cancel with a 257-byte key", packet(be32(80877102), be32(1), new Uint8Array(257))],
    ["no final NUL", packet([0, 3, 0, 0], "user\0a\0")],
    ["empty parameter list without terminator", packet([0, 3, 0, 0])],
    ["name without value", packet([0, 3, 0, 0], "user\0")],
    ["value without NUL", packet([0, 3, 0, 0], "user\0abc")],
    ["bytes after the terminator", packet([0, 3, 0, 0], "user\0a\0\0xyz\0")],
    ["oversize", concatBytes([be32(10001), new Uint8Array([0, 3, 0, 0])]), "54000"],
    ["2 GB", be32(2_000_000_000), "54000"],
    ["protocol 2.0", packet([0, 2, 0, 0], [0]), "0A000"],
  ];
  for (const [label, bytes, code] of bad) {
    throwsProtocol(() => feed(bytes, "startup"), code ?? "08P01", label);
  }
  const d = new FrontendDecoder({ maxMessageBytes: MAX, maxStartupBytes: 100 });
  d.push(be32(101));
  throwsProtocol(() => d.nextStartup(), "54000", "custom limit", /101.*100/);
});

Deno.test("frontend: malformed typed messages throw 08P01", () => {
  const bind = (...body: (Uint8Array | number[] | string)[]) => msg("B", "\0\0", ...body);
  const bad: [string, Uint8Array][] = [
    ["unknown type", new Uint8Array([0x5a])], // thrown from the type byte alone
    ["type 0", new Uint8Array([0])],
    ["length 3", msg("Q").map((b, i) => i === 4 ? 3 : b)],
    ["length 0", new Uint8Array([0x51, 0, 0, 0, 0])],
    ["sync with a body", msg("S", [0])],
    ["terminate with a body", msg("X", [1])],
    ["copy done with a body", msg("c", [1])],
    ["query without NUL", msg("Q", "select 1")],
    ["empty query message", msg("Q")],
    ["query with trailing bytes", msg("Q", "select 1\0x")],
    ["parse without count", msg("P", "\0select\0")],
    ["parse with a short type list", msg("P", "\0select\0", [0, 2], be32(23))],
    ["parse with trailing bytes", msg("P", "\0select\0", [0, 0, 9])],
    ["bind claiming 65535 params in 20 bytes", bind([0, 0, 0xff, 0xff], be32(1), be32(1), "12")],
    ["bind claiming 65535 formats", bind([0xff, 0xff, 0, 0])],
    ["bind with param length -2", bind([0, 0, 0, 1], be32(-2), [0, 0])],
    ["bind with param past the end", bind([0, 0, 0, 1], be32(10), "abc", [0, 0])],
    [
      "bind with 2 formats for 3 params",
      bind([0, 2, 0, 0, 0, 0, 0, 3], be32(-1), be32(-1), be32(-1), [0, 0]),
    ],
    ["bind without result formats", bind([0, 0, 0, 0])],
    ["bind with trailing bytes", bind([0, 0, 0, 0, 0, 0, 7])],
    ["bind with unterminated statement", msg("B", "\0abc")],
    ["execute without max rows", msg("E", "\0")],
    ["execute with trailing bytes", msg("E", "\0", be32(0), [1])],
    ["describe target X", msg("D", "Xname\0")],
    ["describe without target", msg("D")],
    ["close without name", msg("C", "S")],
    ["close with trailing bytes", msg("C", "Sa\0b")],
    ["copy fail unterminated", msg("f", "boom")],
    ["function call truncated", msg("F", be32(1598), [0, 0, 0, 1], be32(5), "ab")],
    ["function call with trailing bytes", msg("F", be32(1598), [0, 0, 0, 0, 0, 0, 0])],
    ["function call without result format", msg("F", be32(1598), [0, 0, 0, 0])],
  ];
  for (const [label, bytes] of bad) throwsProtocol(() => feed(bytes, "typed"), "08P01", label);
});

Deno.test("frontend: oversize messages throw 54000 from the 5-byte header alone", () => {
  for (const len of [MAX + 1, 2_000_000_000, 0x80000000, 0xffffffff]) {
    const d = new FrontendDecoder({ maxMessageBytes: MAX });
    d.push(new Uint8Array([0x51]));
    equal(d.next(), null);
    d.push(be32(len));
    throwsProtocol(() => d.next(), "54000", `length ${len}`, new RegExp(`${len}.*${MAX}`));
  }
  const d = new FrontendDecoder({ maxMessageBytes: 100 });
  d.push(msg("Q", "x".repeat(95), "\0")); // length word 100: accepted
  equal(d.next()?.type, "query");
});

Deno.test("frontend: after a ProtocolError the decoder keeps throwing the same error", () => {
  const d = new FrontendDecoder({ maxMessageBytes: MAX });
  d.push(msg("Q", "x"));
  const e = throwsProtocol(() => d.next(), "08P01", "first");
  for (const fn of [() => d.next(), () => d.nextStartup(), () => d.push(u8(serialize.sync()))]) {
    try {
      fn();
      throw new Error("no throw");
    } catch (again) {
      equal(again, e);
    }
  }
});

Deno.test("frontend: generated Parse/Bind messages round-trip", () => {
  const r = seededRandom(7);
  const word = () =>
    Array.from({ length: Math.floor(r() * 40) }, () => "aé✓_1 "[Math.floor(r() * 6)]).join("");
  const parts: Uint8Array[] = [];
  const want: unknown[] = [];
  for (let i = 0; i < 300; i++) {
    const values = Array.from({ length: Math.floor(r() * 20) }, () => r() < 0.2 ? null : word());
    const types = values.map(() => Math.floor(r() * 5000));
    const [name, sql, portal] = [word(), word(), word()];
    parts.push(u8(serialize.parse({ name, text: sql, types })));
    parts.push(u8(serialize.bind({ portal, statement: name, values, binary: i % 2 === 0 })));
    want.push({ type: "parse", name, sql, paramTypes: types });
    want.push({
      type: "bind",
      portal,
      statement: name,
      paramFormats: values.map(() => 0),
      params: values.map((v) => v === null ? null : te.encode(v)),
      resultFormats: [i % 2 === 0 ? 1 : 0],
    });
  }
  const stream = concatBytes(parts);
  for (
    const pieces of splits(stream, {
      seed: 3,
      everyCut: false,
      rounds: 8,
      pieceLength: SKEWED_PIECES,
    })
  ) {
    const got = typed(pieces).map(({ raw: _, ...m }) => m);
    got.forEach((m, i) => deepEqual(m, want[i], `message ${i}`));
  }
});

/** Feeds random pieces to both phases; only ProtocolError may escape, and progress is bounded. */
function survive(bytes: Uint8Array, r: () => number): void {
  for (const phase of ["startup", "typed"] as const) {
    const d = new FrontendDecoder({ maxMessageBytes: 4096, maxStartupBytes: 4096 });
    let started = phase === "typed";
    try {
      for (let i = 0; i < bytes.length;) {
        d.push(bytes.subarray(i, i += 1 + Math.floor(r() * 64)));
        for (let n = 0;; n++) {
          ok(n <= bytes.length, "no progress");
          const m = started ? d.next() : d.nextStartup();
          if (m === null) break;
          started = true;
        }
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      ok(e.code === "08P01" || e.code === "54000" || e.code === "0A000", e.code);
    }
  }
}

Deno.test("frontend: fuzz - random bytes and mutated streams only ever throw ProtocolError", () => {
  const r = seededRandom(12345);
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(Math.floor(r() * 300));
    for (let j = 0; j < bytes.length; j++) bytes[j] = r() * 256;
    // Half start with a plausible type byte so more inputs get past the first check.
    if (i % 2 === 0 && bytes.length > 0) {
      bytes[0] = "QPBEDCSHXFdcfp".charCodeAt(Math.floor(r() * 14));
    }
    survive(bytes, r);
  }
  const valid = concatBytes([startupStream.subarray(0, startupCases[0][0].length), typedStream]);
  for (let i = 0; i < 2000; i++) {
    const bytes = Array.from(valid);
    for (let k = 1 + Math.floor(r() * 4); k > 0; k--) {
      const at = Math.floor(r() * bytes.length);
      const op = r();
      if (op < 0.5) bytes[at] = Math.floor(r() * 256);
      else if (op < 0.7) bytes.splice(at, 1);
      else if (op < 0.85) bytes.splice(at, 0, Math.floor(r() * 256));
      else bytes[at] = r() < 0.5 ? 0 : 0xff;
    }
    survive(new Uint8Array(bytes), r);
  }
});
