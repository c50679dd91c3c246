import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import { Parser } from "npm:pg-protocol@1.16.1/dist/parser.js";
import {
  authenticationCleartextPassword,
  authenticationOk,
  type BackendFrame,
  BackendFramer,
  backendKeyData,
  errorResponse,
  negotiateProtocolVersion,
  noticeResponse,
  parameterStatus,
  parseAuthentication,
  parseBackendKeyData,
  parseErrorFields,
  parseParameterStatus,
  parseReadyForQuery,
  readyForQuery,
} from "./_backend.ts";
import { ProtocolError } from "./_frontend.ts";
import { concatBytes } from "../../core/mod.ts";
import { seededRandom } from "../../../tests/_rng.ts";
import { splits } from "../../../tests/_splits.ts";

const te = new TextEncoder();

function be32(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, n >>> 16, n >>> 8, n]);
}

/** Hand-built server message: type, int32 length, body. */
function msg(type: string, ...parts: (Uint8Array | number[] | string)[]): Uint8Array {
  const body = concatBytes(
    parts.map((p) =>
      typeof p === "string" ? te.encode(p) : p instanceof Uint8Array ? p : new Uint8Array(p)
    ),
  );
  return concatBytes([new Uint8Array([type.charCodeAt(0)]), be32(body.length + 4), body]);
}

/** What pg-protocol's parser makes of `bytes`. */
// deno-lint-ignore no-explicit-any
function pgParse(bytes: Uint8Array): any[] {
  // deno-lint-ignore no-explicit-any
  const out: any[] = [];
  new Parser().parse(Buffer.from(bytes), (m) => out.push(m));
  return out;
}

function frames(pieces: Uint8Array[], max?: number): BackendFrame[] {
  const f = new BackendFramer(max === undefined ? undefined : { maxMessageBytes: max });
  const out: BackendFrame[] = [];
  for (const p of pieces) {
    f.push(p);
    for (let m = f.next(); m !== null; m = f.next()) out.push(m);
  }
  equal(f.buffered, 0);
  return out;
}

function throwsProtocol(fn: () => unknown, code: string, label: string): void {
  throws(fn, (e) => e instanceof ProtocolError && e.code === code, label);
}

Deno.test("backend encoders: pg-protocol's parser reads what they write", () => {
  const err = errorResponse({
    severity: "FATAL",
    code: "28000",
    message: "denied ✓ by\0 policy",
    detail: "rule \0x",
    hint: "ask",
  });
  const [e] = pgParse(err);
  equal(e.name, "error");
  deepEqual([e.severity, e.code, e.message, e.detail, e.hint], [
    "FATAL",
    "28000",
    "denied ✓ by policy",
    "rule x",
    "ask",
  ]);
  deepEqual(
    [...parseErrorFields(err.subarray(5))],
    [["S", "FATAL"], ["V", "FATAL"], ["C", "28000"], ["M", "denied ✓ by policy"], ["D", "rule x"], [
      "H",
      "ask",
    ]],
  );
  const [n] = pgParse(noticeResponse({ severity: "WARNING", code: "01000", message: "careful" }));
  deepEqual([n.name, n.severity, n.code, n.message, n.detail], [
    "notice",
    "WARNING",
    "01000",
    "careful",
    undefined,
  ]);
  for (const s of ["I", "T", "E"] as const) {
    const [z] = pgParse(readyForQuery(s));
    deepEqual([z.name, z.status], ["readyForQuery", s]);
    equal(parseReadyForQuery(readyForQuery(s).subarray(5)), s);
  }
  const [ps] = pgParse(parameterStatus("application_name", "clawpatrol é"));
  deepEqual([ps.parameterName, ps.parameterValue], ["application_name", "clawpatrol é"]);
  const [k] = pgParse(backendKeyData(31337, new Uint8Array([0xde, 0xad, 0xbe, 0xef])));
  deepEqual([k.processID, k.secretKey], [31337, 0xdeadbeef | 0]);
  equal(pgParse(authenticationOk())[0].name, "authenticationOk");
  equal(pgParse(authenticationCleartextPassword())[0].name, "authenticationCleartextPassword");
  throws(() => errorResponse({ severity: "ERROR", code: "bad", message: "x" }), RangeError);
});

Deno.test("backend encoders: NegotiateProtocolVersion (no pg-protocol parser) by bytes", () => {
  deepEqual(
    negotiateProtocolVersion(0, ["_pq_.a", "_pq_.b"]),
    msg("v", be32(0x30000), be32(2), "_pq_.a\0_pq_.b\0"),
  );
  deepEqual(negotiateProtocolVersion(2, []), msg("v", be32(0x30002), be32(0)));
});

Deno.test("backend parsers agree with pg-protocol on server-built messages", () => {
  const md5 = msg("R", be32(5), [1, 2, 3, 4]);
  deepEqual(parseAuthentication(md5.subarray(5)), { code: 5, salt: new Uint8Array([1, 2, 3, 4]) });
  deepEqual(pgParse(md5)[0].salt, Buffer.from([1, 2, 3, 4]));
  const sasl = msg("R", be32(10), "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
  deepEqual(parseAuthentication(sasl.subarray(5)).mechanisms, pgParse(sasl)[0].mechanisms);
  const cont = msg("R", be32(11), "r=abc,s=c2FsdA==,i=4096");
  deepEqual(parseAuthentication(cont.subarray(5)), {
    code: 11,
    data: te.encode("r=abc,s=c2FsdA==,i=4096"),
  });
  equal(pgParse(cont)[0].data, "r=abc,s=c2FsdA==,i=4096");
  deepEqual(parseAuthentication(msg("R", be32(12), "v=xyz").subarray(5)), {
    code: 12,
    data: te.encode("v=xyz"),
  });
  deepEqual(parseAuthentication(msg("R", be32(0)).subarray(5)), { code: 0 });
  deepEqual(parseAuthentication(msg("R", be32(3)).subarray(5)), { code: 3 });
  deepEqual(parseAuthentication(msg("R", be32(7)).subarray(5)), {
    code: 7,
    data: new Uint8Array(0),
  });

  // A real server's error, every field.
  const fields: [string, string][] = [
    ["S", "ERROR"],
    ["V", "ERROR"],
    ["C", "42P01"],
    ["M", 'relation "nope" does not exist'],
    ["P", "15"],
    ["F", "parse_relation.c"],
    ["L", "1449"],
    ["R", "parserOpenTable"],
  ];
  const e = msg("E", ...fields.map(([c, v]) => `${c}${v}\0`), [0]);
  deepEqual([...parseErrorFields(e.subarray(5))], fields);
  const pe = pgParse(e)[0];
  deepEqual([pe.code, pe.message, pe.position, pe.routine], [
    "42P01",
    fields[3][1],
    "15",
    "parserOpenTable",
  ]);

  deepEqual(parseParameterStatus(msg("S", "TimeZone\0UTC\0").subarray(5)), ["TimeZone", "UTC"]);
  const key32 = new Uint8Array(32).map((_, i) => i);
  deepEqual(parseBackendKeyData(msg("K", be32(99), key32).subarray(5)), { pid: 99, secret: key32 });
  deepEqual(parseBackendKeyData(backendKeyData(7, key32).subarray(5)), { pid: 7, secret: key32 });
});

Deno.test("backend parsers throw 08P01 on malformed bodies", () => {
  const bad: [string, () => unknown][] = [
    ["error without terminator", () => parseErrorFields(te.encode("Mx\0"))],
    ["error field unterminated", () => parseErrorFields(te.encode("Mx"))],
    ["error trailing bytes", () => parseErrorFields(te.encode("Mx\0\0y"))],
    ["empty auth", () => parseAuthentication(new Uint8Array(2))],
    ["auth ok with a body", () => parseAuthentication(concatBytes([be32(0), new Uint8Array(1)]))],
    ["md5 short salt", () => parseAuthentication(concatBytes([be32(5), new Uint8Array(3)]))],
    [
      "sasl without terminator",
      () => parseAuthentication(concatBytes([be32(10), te.encode("SCRAM-SHA-256\0")])),
    ],
    ["sasl unterminated", () => parseAuthentication(concatBytes([be32(10), te.encode("SCRAM")]))],
    ["sasl trailing", () => parseAuthentication(concatBytes([be32(10), te.encode("A\0\0B")]))],
    ["parameter status with one string", () => parseParameterStatus(te.encode("a\0"))],
    ["parameter status trailing", () => parseParameterStatus(te.encode("a\0b\0c"))],
    ["key data short", () => parseBackendKeyData(new Uint8Array(7))],
    ["key data long", () => parseBackendKeyData(new Uint8Array(261))],
    ["ready for query X", () => parseReadyForQuery(te.encode("X"))],
    ["ready for query empty", () => parseReadyForQuery(new Uint8Array(0))],
    ["ready for query long", () => parseReadyForQuery(te.encode("II"))],
  ];
  for (const [label, fn] of bad) throwsProtocol(fn, "08P01", label);
});

// A session's worth of server traffic.
const serverStream = concatBytes([
  authenticationOk(),
  parameterStatus("server_version", "17.2"),
  parameterStatus("client_encoding", "UTF8"),
  backendKeyData(4242, new Uint8Array([1, 2, 3, 4])),
  readyForQuery("I"),
  msg("1"),
  msg("2"),
  msg("T", [0, 1], "aid\0", be32(16400), [0, 1], be32(23), [0, 4], be32(0xffffffff), [0, 0]),
  msg("D", [0, 2], be32(5), "12345", be32(0xffffffff)),
  msg("D", [0, 1], be32(3000), new Uint8Array(3000).fill(0x61)),
  msg("C", "SELECT 2\0"),
  noticeResponse({ severity: "NOTICE", code: "00000", message: "hello", detail: "there" }),
  msg("A", be32(1), "chan\0payload\0"),
  errorResponse({ severity: "ERROR", code: "42601", message: "syntax error" }),
  readyForQuery("E"),
  msg("I"),
  readyForQuery("T"),
]);

Deno.test("backend framer: frames match pg-protocol's parser, from any split", () => {
  const want = frames([serverStream]);
  const parsed = pgParse(serverStream);
  equal(want.length, parsed.length);
  deepEqual(
    want.map((f) => String.fromCharCode(f.type)),
    ["R", "S", "S", "K", "Z", "1", "2", "T", "D", "D", "C", "N", "A", "E", "Z", "I", "Z"],
  );
  want.forEach((f, i) => equal(f.body.length + 4, parsed[i].length));
  deepEqual(concatBytes(want.map((f) => f.raw)), serverStream);
  want.forEach((f) => deepEqual(f.body, f.raw.subarray(5)));

  const cuts = splits(serverStream, {
    seed: 9,
    rounds: 100,
    pieceLength: (r) => 1 + Math.floor(r() * 600),
  });
  for (const pieces of cuts) deepEqual(frames(pieces), want);
});

Deno.test("backend framer: a large DataRow in 64 KiB reads, truncation returns null", () => {
  const big = msg("D", [0, 1], be32(3_000_000), new Uint8Array(3_000_000).fill(7));
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < big.length; i += 65536) pieces.push(big.slice(i, i + 65536));
  const [f] = frames(pieces);
  equal(f.type, 0x44);
  deepEqual(f.raw, big);
  const framer = new BackendFramer();
  framer.push(big.subarray(0, big.length - 1));
  equal(framer.next(), null);
  equal(framer.buffered, big.length - 1);
  framer.push(big.subarray(big.length - 1));
  equal(framer.next()?.raw.length, big.length);
});

Deno.test("backend framer: bad lengths throw from the header, and keep throwing", () => {
  throwsProtocol(() => frames([new Uint8Array([0x5a, 0, 0, 0, 3])]), "08P01", "length 3");
  throwsProtocol(() => frames([new Uint8Array([0x44, 0x40, 0, 0, 1])]), "54000", "over 1 GiB");
  throwsProtocol(() => frames([new Uint8Array([0x44, 0xff, 0xff, 0xff, 0xff])]), "54000", "4 GiB");
  throwsProtocol(() => frames([msg("D", new Uint8Array(100))], 100), "54000", "custom limit");
  equal(frames([msg("D", new Uint8Array(96))], 100).length, 1);
  const f = new BackendFramer();
  f.push(new Uint8Array([0x5a, 0, 0, 0, 0]));
  throwsProtocol(() => f.next(), "08P01", "first");
  throwsProtocol(() => f.next(), "08P01", "again");
  throwsProtocol(() => f.push(readyForQuery("I")), "08P01", "push after failure");
  throws(() => new BackendFramer({ maxMessageBytes: 2 ** 31 }), RangeError);
});

Deno.test("backend framer: fuzz - random bytes only ever throw ProtocolError", () => {
  const r = seededRandom(4321);
  for (let i = 0; i < 2000; i++) {
    const bytes = i % 2
      ? new Uint8Array(Math.floor(r() * 300)).map(() => r() * 256)
      : serverStream.slice();
    if (i % 2 === 0) {
      for (let k = 0; k < 3; k++) bytes[Math.floor(r() * bytes.length)] = r() * 256;
    }
    const f = new BackendFramer({ maxMessageBytes: 1 << 16 });
    try {
      for (let at = 0; at < bytes.length;) {
        f.push(bytes.subarray(at, at += 1 + Math.floor(r() * 64)));
        for (let m = f.next(); m !== null; m = f.next()) {
          // The body parsers must fail closed too.
          for (
            const parse of [
              parseErrorFields,
              parseAuthentication,
              parseParameterStatus,
              parseReadyForQuery,
            ]
          ) {
            try {
              parse(m.body);
            } catch (e) {
              if (!(e instanceof ProtocolError)) throw e;
            }
          }
        }
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      ok(e.code === "08P01" || e.code === "54000");
    }
  }
});
