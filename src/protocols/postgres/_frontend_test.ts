import { deepEqual, equal } from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import { serialize } from "npm:pg-protocol@1.16.1";
import { FrontendDecoder, type FrontendMessage } from "./_frontend.ts";
import { concatBytes } from "../../core/mod.ts";
import { seededRandom } from "../../../tests/_rng.ts";
import { splits } from "../../../tests/_splits.ts";
import {
  cases,
  expected,
  MAX,
  SKEWED_PIECES,
  startup,
  startupCases,
  startupStream,
  te,
  typed,
  typedStream,
  u8,
} from "./_frontend_testing.ts";

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

Deno.test("frontend: startup packets decode, from one push or split anywhere", () => {
  const want = startupCases.map(([raw, p]) => ({ ...p, raw }));
  for (const pieces of splits(startupStream, { seed: 2, pieceLength: SKEWED_PIECES })) {
    deepEqual(startup(pieces), want);
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
