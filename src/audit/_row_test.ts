import { equal, ok, throws } from "node:assert/strict";
import type { Facts } from "../core/mod.ts";
import { toPendingRow } from "./_row.ts";
import { receiptInput } from "./_testing.ts";

/** What receipts promise for facts: JSON, with BigInts as numbers (or strings past 2^53). */
function reference(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v !== "bigint") return v;
    return v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : v.toString();
  }) ?? "null";
}

class Point {
  constructor(readonly x: number, readonly y: bigint) {}
}

Deno.test("receipt facts serialise exactly as JSON.stringify with the BigInt replacer", () => {
  const bare = Object.create(null) as Record<string, unknown>;
  bare.k = "v";
  const inherited = Object.create({ hidden: 1 }) as Record<string, unknown>;
  inherited.own = 2;
  const samples: unknown[] = [
    { sql: { verb: "select", verbs: ["select"], statement_count: 1n, params: [], dynamic: false } },
    { n: [2n ** 60n, -(2n ** 60n), 2n ** 53n - 1n, -0, 1e21, 1.5e-7, NaN, Infinity, -Infinity] },
    { a: [undefined, () => 1, Symbol("s"), null], skip: undefined, f: () => 1, s: Symbol("t") },
    { 'quote"key': "line\nbreak \u0000 \ud800 lone", "é": "ü", "": "" },
    { when: new Date("2025-06-01T00:00:00Z"), point: new Point(1, 2n), bare, inherited },
    { deep: { deeper: { deepest: [[[1n]], { x: [true, false] }] } } },
    { toJSON: () => ({ replaced: 3n }) },
    {},
  ];
  for (const facts of samples) {
    const row = toPendingRow("rcpt_x", receiptInput({ facts: facts as Facts }));
    equal(row.facts, reference(facts));
  }
});

Deno.test("receipt facts nested deep are recorded whole, or refused when too deep", () => {
  let recorded = 0;
  for (const depth of [100, 1_000, 2_000, 3_000, 4_000, 6_000, 50_000]) {
    let deep: unknown = [1n];
    for (let i = 0; i < depth; i++) deep = { d: [deep] };
    const facts = { http: { body_json: deep } } as unknown as Facts;
    const expected = '{"http":{"body_json":' + '{"d":['.repeat(depth) + "[1]" +
      "]}".repeat(depth) + "}}";
    let row;
    try {
      row = toPendingRow("rcpt_x", receiptInput({ facts }));
    } catch (error) {
      ok(error instanceof TypeError && /not serialisable/.test(error.message), String(error));
      continue;
    }
    equal(row.facts, expected);
    recorded++;
  }
  ok(recorded >= 3, "the deep cases must exercise the recorded path");
});

Deno.test("receipt facts that cannot be serialised are refused with the field named", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = { again: cyclic };
  throws(
    () => toPendingRow("rcpt_x", receiptInput({ facts: { http: cyclic } as unknown as Facts })),
    (e) => e instanceof Error && /facts are not serialisable/.test(e.message),
  );
});
