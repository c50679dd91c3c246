/**
 * Shared by the frontend decoder tests: hand-built messages, one of every client message and
 * startup packet with what it decodes to, and decoding helpers.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
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
import type { PieceLength } from "../../../tests/_splits.ts";

/** The tests' one TextEncoder. */
export const te = new TextEncoder();
/** A message without its raw bytes (distributes over the union). */
export type NoRaw<T> = T extends unknown ? Omit<T, "raw"> : never;
/** The decoders' maxMessageBytes. */
export const MAX = 1 << 20;

/** A copy as a plain Uint8Array (pg-protocol returns Buffers). */
export const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);

/** Hand-built typed message: type, int32 length, body. */
export function msg(type: string, ...parts: (Uint8Array | number[] | string)[]): Uint8Array {
  const body = concatBytes(
    parts.map((p) =>
      typeof p === "string" ? te.encode(p) : p instanceof Uint8Array ? p : new Uint8Array(p)
    ),
  );
  return concatBytes([new Uint8Array([type.charCodeAt(0)]), be32(body.length + 4), body]);
}

/** A big-endian int32. */
export function be32(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, n >>> 16, n >>> 8, n]);
}

/** Hand-built startup-phase packet. */
export function packet(...parts: (Uint8Array | number[] | string)[]): Uint8Array {
  return msg("x", ...parts).subarray(1); // the length word counts itself, as in typed messages
}

/** What a fresh decoder pulls from `pieces`, pushed one by one; nothing may stay buffered. */
export function decodeAll<T>(pieces: Uint8Array[], pull: (d: FrontendDecoder) => T | null): T[] {
  const d = new FrontendDecoder({ maxMessageBytes: MAX });
  const out: T[] = [];
  for (const p of pieces) {
    d.push(p);
    for (let m = pull(d); m !== null; m = pull(d)) out.push(m);
  }
  equal(d.buffered, 0);
  return out;
}

/** Typed messages decoded from `pieces`. */
export const typed = (pieces: Uint8Array[]) => decodeAll(pieces, (d) => d.next());
/** Startup packets decoded from `pieces`. */
export const startup = (pieces: Uint8Array[]) => decodeAll(pieces, (d) => d.nextStartup());

/** Piece lengths mostly small, sometimes above the decoder's SMALL_CHUNK. */
export const SKEWED_PIECES: PieceLength = (r) => 1 + Math.floor(r() * r() * 9000);

/** Asserts `fn` throws a ProtocolError with `code` (and a message matching `re`); returns it. */
export function throwsProtocol(
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
export function feed(bytes: Uint8Array, phase: "startup" | "typed"): unknown[] {
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
export const cases: [Uint8Array, NoRaw<FrontendMessage>][] = [
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
/** Every message of {@linkcode cases}, back to back. */
export const typedStream = concatBytes(cases.map(([raw]) => raw));

/** What {@linkcode typedStream} decodes to. */
export function expected(): FrontendMessage[] {
  return cases.map(([raw, m]) => ({ ...m, raw }) as FrontendMessage);
}

/** One of every startup-phase packet. */
export const startupCases: [Uint8Array, NoRaw<StartupPacket>][] = [
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
/** Every packet of {@linkcode startupCases}, back to back. */
export const startupStream = concatBytes(startupCases.map(([raw]) => raw));
