import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { environmentFor, factSchema } from "./_facts.ts";
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
