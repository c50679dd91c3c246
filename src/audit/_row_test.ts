import { equal, ok, throws } from "node:assert/strict";
import type { Facts } from "../core/mod.ts";
import { toPendingRow } from "./_row.ts";
import { receiptInput, withTempDir } from "./_testing.ts";
import { ReceiptStore } from "./store.ts";
import { SeededRng } from "../../tests/_rng.ts";

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

Deno.test("receipt facts with null-prototype maps, odd keys and BigInts anywhere serialise as the reference", () => {
  const map = (entries: [string, unknown][]) => {
    const m = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of entries) m[k] = v;
    return m;
  };
  const holes: unknown[] = [1n];
  holes[3] = 2n;
  const samples: unknown[] = [
    // A header named __proto__ holding an array must stay a key, not become the prototype.
    { http: { port: 443n, headers: map([["__proto__", ["x"]], ["2", ["b"]], ["1", ["a"]]]) } },
    { http: { query: map([["a", ["1"]], ["constructor", ["c"]], ["toString", ["t"]]]), n: 5n } },
    { before: "kept", list: [1, 2, { z: 3n }], after: { plain: true }, map: map([]) },
    { holes, nested: [[map([["k", 9007199254740993n]])]] },
    map([["top", map([["inner", [map([["leaf", -1n]])]]])]]),
  ];
  for (const facts of samples) {
    equal(toPendingRow("rcpt_x", receiptInput({ facts: facts as Facts })).facts, reference(facts));
  }
  // Something enumerable on Object.prototype is not an own key: JSON leaves it out, so must we.
  Object.defineProperty(Object.prototype, "polluted", {
    value: 1n,
    enumerable: true,
    configurable: true,
    writable: true,
  });
  try {
    const facts = { http: { port: 443n, headers: map([["a", ["1"]]]) } };
    equal(
      toPendingRow("rcpt_x", receiptInput({ facts: facts as unknown as Facts })).facts,
      reference(facts),
    );
  } finally {
    delete (Object.prototype as Record<string, unknown>).polluted;
  }
});

Deno.test("receipt facts of seeded random shapes serialise as the reference", () => {
  const rng = new SeededRng(21);
  const leaf = (): unknown =>
    rng.pick<() => unknown>([
      () => BigInt(rng.int(1000)) * (rng.chance(0.2) ? 2n ** 60n : 1n),
      () => rng.int(100),
      () => `s${rng.int(10)}`,
      () => null,
      () => rng.chance(0.5),
    ])();
  const tree = (depth: number): unknown => {
    if (depth === 0 || rng.chance(0.3)) return leaf();
    const n = rng.int(4);
    if (rng.chance(0.3)) return Array.from({ length: n }, () => tree(depth - 1));
    const keys = ["a", "b", "__proto__", "7", "constructor", "z"];
    const out = (rng.chance(0.5) ? Object.create(null) : {}) as Record<string, unknown>;
    for (let i = 0; i < n; i++) {
      Object.defineProperty(out, rng.pick(keys), {
        value: tree(depth - 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };
  for (let i = 0; i < 2_000; i++) {
    const facts = { x: tree(6) };
    equal(toPendingRow("rcpt_x", receiptInput({ facts: facts as Facts })).facts, reference(facts));
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

Deno.test("a receipt's protocol must be a family the store was given, or gateway", () => {
  const families = new Set(["https", "gateway"]);
  equal(toPendingRow("rcpt_x", receiptInput({ protocol: "https" }), families).protocol, "https");
  equal(
    toPendingRow("rcpt_x", receiptInput({ protocol: "gateway" }), families).protocol,
    "gateway",
  );
  throws(
    () => toPendingRow("rcpt_x", receiptInput({ protocol: "postgres" }), families),
    (e) => e instanceof TypeError && /invalid protocol 'postgres'/.test(e.message),
  );
});

Deno.test("without the registered families, a receipt's protocol must still look like one", () => {
  equal(toPendingRow("rcpt_x", receiptInput({ protocol: "postgres" })).protocol, "postgres");
  for (const protocol of ["", "HTTPS", "https ", "1pg"]) {
    throws(
      () => toPendingRow("rcpt_x", receiptInput({ protocol })),
      (e) => e instanceof TypeError && /invalid protocol/.test(e.message),
      JSON.stringify(protocol),
    );
  }
});

Deno.test("ReceiptStore.open({ protocols }) refuses receipts of other families, queuing nothing", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`, { protocols: ["https"], worker: false });
    try {
      throws(() => store.record(receiptInput({ protocol: "postgres" })), TypeError);
      equal(store.queued, 0);
      store.record(receiptInput({ protocol: "gateway" }));
      store.record(receiptInput({ protocol: "https" }));
      equal(store.queued, 2);
    } finally {
      await store.close();
    }
  });
});
