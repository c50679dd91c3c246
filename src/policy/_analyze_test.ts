import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { environmentFor, factSchema, factsContext } from "./_facts.ts";
import { extractGuards, factReads, readsUnknown } from "./_analyze.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";

const SCHEMA = factSchema(PROTOCOLS);

// factReads / readsUnknown ---------------------------------------------------------------------

function reads(condition: string, family: "https" | "postgres" | "kubernetes" = "https") {
  return [...factReads(environmentFor(protocolOf(family)!).parse(condition).ast, SCHEMA)].sort();
}

Deno.test("factReads() lists the fact fields a condition reads", () => {
  assertEquals(reads("http.method == 'get' && http.headers['x'][0] == 'y'"), [
    "http.headers",
    "http.method",
  ]);
  assertEquals(reads("http['body'].contains('x')"), ["http.body"]);
  assertEquals(reads("has(http.body_json.a)"), ["http.body_json"]);
  assertEquals(reads("sql.verbs.exists(v, v == 'drop')", "postgres"), ["sql.verbs"]);
  assertEquals(reads("agent.name == 'x' && k8s.verb == 'get'", "kubernetes"), [
    "agent.name",
    "k8s.verb",
  ]);
  assertEquals(reads("true"), []);
});

Deno.test("readsUnknown() matches fields, whole families and derived facts", () => {
  assertEquals(readsUnknown(new Set(["http.body"]), ["http.body"]), "http.body");
  assertEquals(readsUnknown(new Set(["http.method"]), ["http.body"]), null);
  assertEquals(readsUnknown(new Set(["sql.tables"]), ["sql.*"]), "sql.*");
  assertEquals(readsUnknown(new Set(["http.*"]), ["http.path"]), "http.path");
  assertEquals(readsUnknown(new Set(["agent.name"]), ["sql.*"]), null);
  assertEquals(readsUnknown(new Set(["http.body_json"]), ["http.body"]), "http.body");
  assertEquals(readsUnknown(new Set(["http.body_truncated"]), ["http.body"]), null);
});

// Guards ---------------------------------------------------------------------------------------

function guardsOf(condition: string) {
  return extractGuards(environmentFor(protocolOf("https")!).parse(condition).ast, SCHEMA);
}

Deno.test("extractGuards() returns guards that skip only when their fact rules the term out", () => {
  const [guard] = guardsOf("http.method == 'post' && http.body.contains('x')");
  assert(guard, "expected a guard on http.method");
  assertEquals(guard.test({ http: { method: "get" } }), false);
  assertEquals(guard.test({ http: { method: "post" } }), true);
});

Deno.test("extractGuards() guards cannot decide, and so pass, when the fact is missing or not a string", () => {
  for (
    const condition of [
      "http.method == 'post'",
      "http.method in ['post', 'put']",
      "http.path.startsWith('/a')",
      "http.path.endsWith('/a')",
      "http.path.contains('/a')",
    ]
  ) {
    const guards = guardsOf(condition);
    assert(guards.length > 0, condition);
    for (const guard of guards) {
      assertEquals(guard.test({}), true, `${condition}: no http facts`);
      assertEquals(guard.test({ http: {} }), true, `${condition}: no field`);
      assertEquals(
        guard.test({ http: { method: 1, path: null } }),
        true,
        `${condition}: not a string`,
      );
    }
  }
});

Deno.test("extractGuards() makes no guard from terms that are not conjuncts", () => {
  assertEquals(guardsOf("!(http.method == 'get')").length, 0);
  assertEquals(guardsOf("http.method != 'get'").length, 0);
  assertEquals(guardsOf("http.method == 'get' || http.body_truncated").length, 0);
});

Deno.test("extractGuards() membership guards skip only when CEL is sure the key or item is absent", () => {
  const https = protocolOf("https")!;
  const env = environmentFor(https);
  const agent = { name: "bot", profile: "oncall" };
  const conditions = [
    "'x-token' in http.headers",
    "http.headers.exists(h, h == 'x-token')",
    "http.headers.exists(h, 'x-token' == h)",
    "'dot_segment' in http.path_anomalies",
    "http.path_anomalies.exists(a, a == 'dot_segment')",
  ];
  // [facts, whether every guard may skip]: skip only where the collection is certain.
  const cases: [Record<string, unknown>, boolean][] = [
    [{ headers: { accept: ["x"] }, path_anomalies: ["other"] }, true],
    [{ headers: Object.create(null), path_anomalies: [] }, true],
    [{ headers: { "x-token": ["t"] }, path_anomalies: ["dot_segment"] }, false],
    [{ headers: { "x-token": undefined }, path_anomalies: ["other", "dot_segment"] }, false],
    // Not plain data or not all strings: CEL decides (true, or an evaluation failure).
    [{ headers: new Map([["x-token", ["t"]]]), path_anomalies: [7, "other"] }, false],
    [{ headers: Object.create({ "x-token": ["t"] }), path_anomalies: [null] }, false],
    [{ headers: "x-token", path_anomalies: "dot_segment" }, false],
    [{}, false],
  ];
  let skipped = 0;
  for (const condition of conditions) {
    const guards = guardsOf(condition);
    assertEquals(guards.length, 1, condition);
    for (const [http] of cases) {
      const where = `${condition} on ${Deno.inspect(http)}`;
      const passes = guards[0].test({ http });
      if (passes) continue;
      skipped++;
      let result: unknown;
      try {
        result = env.parse(condition)(factsContext(https, { http } as never, agent));
      } catch (error) {
        result = error;
      }
      assertEquals(result, false, `${where}: the guard skipped, CEL says ${result}`);
    }
  }
  // Each condition skips exactly in the two certain cases.
  assertEquals(skipped, conditions.length * cases.filter(([, skips]) => skips).length);
});
