import assert from "node:assert/strict";
import { BackendRelay, type Replacement } from "./_relay.ts";
import { errorResponse, readyForQuery } from "./_backend.ts";
import { Writer } from "./_encode.ts";
import { joinBytes } from "./_sockets.ts";

const dataRow = (text: string) => {
  const v = new TextEncoder().encode(text);
  return new Writer("D").int16(1).int32(v.length).bytes(v).finish();
};
const commandComplete = (tag: string) => new Writer("C").cstring(tag).finish();

const concat = joinBytes;

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

/** Feeds `stream` cut at `cuts` and returns everything the relay forwarded. */
function run(
  stream: Uint8Array,
  cuts: number[],
  replacements: (Replacement | null)[],
) {
  const { relay, seen } = harness(replacements);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(relay.push(stream.subarray(from, cut)));
    from = cut;
  }
  return { out: concat(out), seen };
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

// Batch 1: rows then Z. Batch 2: the probe's error then Z. Batch 3: an unrelated error then Z.
const stream = concat([
  dataRow("a"),
  dataRow("b".repeat(300)),
  commandComplete("SELECT 2"),
  readyForQuery("I"),
  probeError,
  readyForQuery("E"),
  otherError,
  readyForQuery("I"),
]);
const expected = concat([
  dataRow("a"),
  dataRow("b".repeat(300)),
  commandComplete("SELECT 2"),
  readyForQuery("I"),
  ours,
  readyForQuery("E"),
  otherError,
  readyForQuery("I"),
]);
const replacements = [null, { marker: MARKER, frame: ours }, null];

Deno.test("relay: bytes pass through untouched when nothing is pending", () => {
  const { out, seen } = run(stream, [], [null, null, null]);
  assert.deepEqual(out, stream);
  assert.deepEqual(seen.ready, ["I", "E", "I"]);
  assert.deepEqual(seen.errors, ["26000", "42P01"]);
});

Deno.test("relay: the probe's error is swapped for the gateway's, at every split point", () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const { out, seen } = run(stream, [cut], replacements);
    assert.deepEqual(out, expected, `split at ${cut}`);
    assert.equal(seen.replaced, 1);
    assert.deepEqual(seen.ready, ["I", "E", "I"]);
  }
});

Deno.test("relay: seeded random multi-way splits, including 1-byte chunks", () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let round = 0; round < 300; round++) {
    const cuts = new Set<number>();
    const count = rand(12);
    for (let i = 0; i < count; i++) cuts.add(rand(stream.length));
    const sorted = [...cuts].sort((a, b) => a - b);
    assert.deepEqual(run(stream, sorted, replacements).out, expected, `cuts ${sorted}`);
  }
  const every = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(run(stream, every, replacements).out, expected);
});

Deno.test("relay: an error without the marker is forwarded even while a replacement is pending", () => {
  // The upstream was already failing (25P02): it never answered the probe itself.
  const aborted = errorResponse({
    severity: "ERROR",
    code: "25P02",
    message: "current transaction is aborted, commands ignored until end of transaction block",
  });
  const s = concat([aborted, readyForQuery("E"), dataRow("x")]);
  for (let cut = 0; cut <= s.length; cut++) {
    const { out, seen } = run(s, [cut], [{ marker: MARKER, frame: ours }, null]);
    assert.deepEqual(out, s, `split at ${cut}`);
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
  relay.push(concat([row.subarray(9), commandComplete("SELECT 1")]));
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
