import assert from "node:assert/strict";
import { BackendRelay, type Replacement } from "./_relay.ts";
import { errorResponse, readyForQuery } from "./_backend.ts";
import { Writer } from "./_encode.ts";
import { concatBytes } from "../../core/mod.ts";
import { everyCut, splits } from "../../../tests/_splits.ts";

const dataRow = (text: string) => {
  const v = new TextEncoder().encode(text);
  return new Writer("D").int16(1).int32(v.length).bytes(v).finish();
};
const commandComplete = (tag: string) => new Writer("C").cstring(tag).finish();

/** A session stand-in: a queue of replacements, one per expected ReadyForQuery. */
function harness(replacements: (Replacement | null)[]) {
  const queue = [...replacements];
  const seen = { ready: [] as string[], errors: [] as string[], replaced: 0 };
  const relay = new BackendRelay({
    pending: () => queue[0] ?? null,
    replaced: () => {
      seen.replaced++;
      queue[0] = null;
    },
    ready: (status) => {
      seen.ready.push(status);
      queue.shift();
    },
    error: (code) => seen.errors.push(code),
  });
  return { relay, seen };
}

/** Feeds `pieces` in order and returns everything the relay forwarded. */
function run(pieces: Uint8Array[], replacements: (Replacement | null)[]) {
  const { relay, seen } = harness(replacements);
  return { out: concatBytes(pieces.map((piece) => relay.push(piece))), seen };
}

const MARKER = "clawpatrol_denied_abc123";
const ours = errorResponse({
  severity: "ERROR",
  code: "42501",
  message: "denied by clawpatrol: x",
});
const probeError = errorResponse({
  severity: "ERROR",
  code: "26000",
  message: `prepared statement "${MARKER}" does not exist`,
});
const otherError = errorResponse({ severity: "ERROR", code: "42P01", message: "no such table" });

// Batch 1: rows then Z (in a transaction). Batch 2: the probe's error then Z. Batch 3: an unrelated error then Z.
const stream = concatBytes([
  dataRow("a"),
  dataRow("b".repeat(300)),
  commandComplete("SELECT 2"),
  readyForQuery("T"),
  probeError,
  readyForQuery("E"),
  otherError,
  readyForQuery("I"),
]);
const expected = concatBytes([
  dataRow("a"),
  dataRow("b".repeat(300)),
  commandComplete("SELECT 2"),
  readyForQuery("T"),
  ours,
  readyForQuery("E"),
  otherError,
  readyForQuery("I"),
]);
const replacements = [null, { marker: MARKER, frame: ours }, null];

Deno.test("relay: bytes pass through untouched when nothing is pending", () => {
  const { out, seen } = run([stream], [null, null, null]);
  assert.deepEqual(out, stream);
  assert.deepEqual(seen.ready, ["T", "E", "I"]);
  assert.deepEqual(seen.errors, ["26000", "42P01"]);
});

Deno.test("relay: the probe's error is swapped for the gateway's, at every split point", () => {
  for (const [head, tail] of everyCut(stream)) {
    const { out, seen } = run([head, tail], replacements);
    assert.deepEqual(out, expected, `split at ${head.length}`);
    assert.equal(seen.replaced, 1);
    assert.deepEqual(seen.ready, ["T", "E", "I"]);
  }
});

Deno.test("relay: seeded random multi-way splits, including 1-byte chunks", () => {
  const ways = splits(stream, {
    seed: 7,
    rounds: 300,
    everyCut: false,
    pieceLength: (random) => 1 + Math.floor(random() * 120),
  });
  for (const pieces of ways) {
    const lengths = pieces.map((p) => p.length);
    assert.deepEqual(run(pieces, replacements).out, expected, `pieces of ${lengths}`);
  }
});

Deno.test("relay: an error without the marker is forwarded even while a replacement is pending", () => {
  // The upstream was already failing (25P02): it never answered the probe itself.
  const aborted = errorResponse({
    severity: "ERROR",
    code: "25P02",
    message: "current transaction is aborted, commands ignored until end of transaction block",
  });
  const s = concatBytes([aborted, readyForQuery("E"), dataRow("x")]);
  for (const [head, tail] of everyCut(s)) {
    const { out, seen } = run([head, tail], [{ marker: MARKER, frame: ours }, null]);
    assert.deepEqual(out, s, `split at ${head.length}`);
    assert.equal(seen.replaced, 0);
  }
});

Deno.test("relay: a corrupt length from the server is a protocol error", () => {
  const { relay } = harness([]);
  assert.throws(() => relay.push(new Uint8Array([0x44, 0, 0, 0, 2])), /invalid length/);
  const { relay: big } = harness([]);
  assert.throws(() => big.push(new Uint8Array([0x44, 0x7f, 0xff, 0xff, 0xff])), /invalid length/);
});

Deno.test("atBoundary is false only while a forwarded frame is incomplete", () => {
  const { relay } = harness([null]);
  assert.equal(relay.atBoundary, true);
  const row = dataRow("a long enough value");
  relay.push(row.subarray(0, 3)); // Part of the header.
  assert.equal(relay.atBoundary, false, "a FATAL now would land inside the DataRow");
  relay.push(row.subarray(3, 9));
  assert.equal(relay.atBoundary, false);
  relay.push(concatBytes([row.subarray(9), commandComplete("SELECT 1")]));
  assert.equal(relay.atBoundary, true);
  relay.push(readyForQuery("I"));
  assert.equal(relay.atBoundary, true);
});

Deno.test("atBoundary: a frame held for replacement was not forwarded, so it does not count", () => {
  const marker = "clawpatrol_denied_x";
  const { relay } = harness([{
    marker,
    frame: errorResponse({ severity: "ERROR", code: "42501", message: "no" }),
  }]);
  const error = errorResponse({
    severity: "ERROR",
    code: "26000",
    message: `prepared statement "${marker}" does not exist`,
  });
  relay.push(error.subarray(0, 8));
  assert.equal(relay.atBoundary, true);
});
