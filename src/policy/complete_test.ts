import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { completeFacts } from "./complete.ts";
import { FACT_SCHEMA } from "./_facts.ts";

Deno.test("completeFacts() fills every field with its zero value", () => {
  const facts = completeFacts("https", {});
  assertEquals(facts.http, {
    method: "",
    scheme: "",
    host: "",
    port: 0n,
    path: "",
    raw_path: "",
    canonical_path: "",
    path_anomalies: [],
    effective_method: "",
    query: {},
    headers: {},
    body: "",
    body_json: null,
    body_truncated: false,
    graphql: { operation_types: [], operation_name: "", fields: [] },
    placeholders: [],
    misplaced_placeholders: [],
    unknown_placeholders: [],
  });
  assertEquals(facts.sql, undefined);
  assertEquals(Object.keys(completeFacts("postgres", {}).sql!), Object.keys(FACT_SCHEMA.sql));
  assertEquals(completeFacts("postgres", {}).sql!.statement_count, 0n);
});

Deno.test("completeFacts() checks http.graphql field by field and fills what is missing", () => {
  const facts = completeFacts("https", { http: { graphql: { operation_types: ["query"] } } });
  assertEquals(facts.http!.graphql, {
    operation_types: ["query"],
    operation_name: "",
    fields: [],
  });
  assertThrows(
    () => completeFacts("https", { http: { graphql: { operation_typs: ["query"] } } }),
    /Unknown fact 'http\.graphql\.operation_typs'/,
  );
  assertThrows(
    () => completeFacts("https", { http: { graphql: { fields: "createIssue" } } }),
    /Fact 'http\.graphql\.fields' must be list<string>/,
  );
});

Deno.test("completeFacts() takes http.effective_method from http.method unless the case gives it", () => {
  assertEquals(completeFacts("https", { http: { method: "GET" } }).http!.effective_method, "get");
  const overridden = completeFacts("https", {
    http: { method: "GET", effective_method: "DELETE", canonical_path: "/ADMIN" },
  });
  assertEquals(
    [overridden.http!.effective_method, overridden.http!.canonical_path],
    ["delete", "/admin"],
  );
});

Deno.test("completeFacts() gives kubernetes actions both k8s and http facts", () => {
  const facts = completeFacts("kubernetes", { k8s: { verb: "GET" }, http: { method: "GET" } });
  assertEquals(facts.k8s!.verb, "get");
  assertEquals(facts.http!.method, "get");
  assertEquals(facts.k8s!.params, {});
  assertEquals(completeFacts("kubernetes", {}).http!.path, "");
});

Deno.test("completeFacts() lowercases the facts protocols lowercase, and only those", () => {
  const facts = completeFacts("https", {
    http: {
      method: "POST",
      scheme: "HTTPS",
      host: "API.GitHub.com",
      path: "/Repos/X",
      headers: { "X-Api-Key": ["Secret"], Accept: "Text/HTML" },
      query: { Page: ["A"] },
    },
  });
  const http = facts.http!;
  assertEquals([http.method, http.scheme, http.host], ["post", "https", "api.github.com"]);
  assertEquals(http.path, "/Repos/X");
  assertEquals(http.headers, { "x-api-key": ["Secret"], accept: ["Text/HTML"] });
  assertEquals(http.query, { Page: ["A"] });
  const sql = completeFacts("postgres", {
    sql: { verb: "DROP", verbs: ["DROP", "Select"], tables: ["Users"] },
  }).sql!;
  assertEquals([sql.verb, sql.verbs, sql.tables], ["drop", ["drop", "select"], ["Users"]]);
  assertEquals(completeFacts("kubernetes", { k8s: { verb: "DELETE" } }).k8s!.verb, "delete");
});

Deno.test("completeFacts() merges header values whose names differ only in case", () => {
  const facts = completeFacts("https", {
    http: { headers: { "X-Forwarded-For": ["1.1.1.1"], "x-forwarded-for": ["2.2.2.2"] } },
  });
  assertEquals(facts.http!.headers, { "x-forwarded-for": ["1.1.1.1", "2.2.2.2"] });
});

Deno.test("completeFacts() keeps header names that collide with Object.prototype as plain keys", () => {
  const headers = JSON.parse('{"__proto__": ["a"], "Constructor": ["b"]}');
  const facts = completeFacts("https", { http: { headers } });
  assertEquals(Object.keys(facts.http!.headers).sort(), ["__proto__", "constructor"]);
  assertEquals(facts.http!.headers["constructor"], ["b"]);
  assertEquals(Object.getPrototypeOf(facts.http!.headers), Object.prototype);
});

Deno.test("completeFacts() converts ints to BigInt", () => {
  assertEquals(completeFacts("https", { http: { port: 443 } }).http!.port, 443n);
  assertEquals(completeFacts("https", { http: { port: 8443n } }).http!.port, 8443n);
  assertEquals(
    completeFacts("postgres", { sql: { statement_count: 2 } }).sql!.statement_count,
    2n,
  );
});

Deno.test("completeFacts() parses a JSON body into body_json unless given", () => {
  assertEquals(completeFacts("https", { http: { body: '{"a": [1]}' } }).http!.body_json, {
    a: [1],
  });
  assertEquals(completeFacts("https", { http: { body: "not json" } }).http!.body_json, null);
  assertEquals(
    completeFacts("https", { http: { body: "{}", body_json: { given: true } } }).http!.body_json,
    { given: true },
  );
});

Deno.test("completeFacts() rejects unknown fields and families with TypeError", () => {
  assertThrows(() => completeFacts("https", { http: { methd: "get" } }), TypeError);
  assertThrows(() => completeFacts("https", { http: { methd: "get" } }), /http\.methd/);
  assertThrows(() => completeFacts("https", { sql: { verb: "select" } }), TypeError);
  assertThrows(() => completeFacts("postgres", { http: {} }), TypeError);
  assertThrows(() => completeFacts("https", { agent: { name: "x" } }), TypeError);
  // Names inherited from Object.prototype are not facts either.
  assertThrows(() => completeFacts("https", { http: { toString: "x" } }), TypeError);
  assertThrows(() => completeFacts("https", { http: { constructor: "x" } }), TypeError);
});

Deno.test("completeFacts() rejects values of the wrong type with TypeError", () => {
  const bad: [string, Record<string, Record<string, unknown>>][] = [
    ["https", { http: { method: 1 } }],
    ["https", { http: { port: "443" } }],
    ["https", { http: { port: 1.5 } }],
    ["https", { http: { body_truncated: "yes" } }],
    ["https", { http: { headers: ["x"] } }],
    ["https", { http: { headers: { a: [1] } } }],
    ["https", { http: { query: null } }],
    ["postgres", { sql: { verbs: "drop" } }],
    ["postgres", { sql: { tables: [1] } }],
    ["postgres", { sql: { dynamic: 1 } }],
  ];
  for (const [family, partial] of bad) {
    assertThrows(
      () => completeFacts(family as "https" | "postgres", partial),
      TypeError,
      JSON.stringify(partial),
    );
  }
});
