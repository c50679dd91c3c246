// The frontend decoder on malformed, oversize and random input: it throws a ProtocolError with
// the right SQLSTATE, keeps throwing it, and never anything else.

import { equal, ok } from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import { serialize } from "npm:pg-protocol@1.16.1";
import { FrontendDecoder, ProtocolError } from "./_frontend.ts";
import { concatBytes } from "../../core/mod.ts";
import { seededRandom } from "../../../tests/_rng.ts";
import {
  be32,
  feed,
  MAX,
  msg,
  packet,
  startupCases,
  startupStream,
  throwsProtocol,
  typedStream,
  u8,
} from "./_frontend_testing.ts";

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
