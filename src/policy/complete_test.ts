import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { completeFacts } from "./complete.ts";
import { protocolOf } from "../protocols/registry.ts";

const HTTPS = protocolOf("https")!;
const POSTGRES = protocolOf("postgres")!;
const KUBERNETES = protocolOf("kubernetes")!;

Deno.test("completeFacts() fills every field with its zero value", () => {
  const facts = completeFacts(HTTPS, {});
  assertEquals(facts.http, {
    method: "",
    scheme: "",
    host: "",
    port: 0,
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
  assertEquals(
    Object.keys(completeFacts(POSTGRES, {}).sql!),
    Object.keys(POSTGRES.facets[0].fields),
  );
  assertEquals(completeFacts(POSTGRES, {}).sql!.statement_count, 0);
});

Deno.test("completeFacts() checks http.graphql field by field and fills what is missing", () => {
  const facts = completeFacts(HTTPS, { http: { graphql: { operation_types: ["query"] } } });
  assertEquals(facts.http!.graphql, {
    operation_types: ["query"],
    operation_name: "",
    fields: [],
  });
  assertThrows(
    () => completeFacts(HTTPS, { http: { graphql: { operation_typs: ["query"] } } }),
    /Unknown fact 'http\.graphql\.operation_typs'/,
  );
  assertThrows(
    () => completeFacts(HTTPS, { http: { graphql: { fields: "createIssue" } } }),
    /Fact 'http\.graphql\.fields' must be list<string>/,
  );
});

Deno.test("completeFacts() takes http.effective_method from http.method unless the case gives it", () => {
  assertEquals(completeFacts(HTTPS, { http: { method: "GET" } }).http!.effective_method, "get");
  const overridden = completeFacts(HTTPS, {
    http: { method: "GET", effective_method: "DELETE", canonical_path: "/ADMIN" },
  });
  assertEquals(
    [overridden.http!.effective_method, overridden.http!.canonical_path],
    ["delete", "/admin"],
  );
});

Deno.test("completeFacts() gives kubernetes actions both k8s and http facts", () => {
  const facts = completeFacts(KUBERNETES, { k8s: { verb: "GET" }, http: { method: "GET" } });
  assertEquals(facts.k8s!.verb, "get");
  assertEquals(facts.http!.method, "get");
  assertEquals(facts.k8s!.params, {});
  assertEquals(completeFacts(KUBERNETES, {}).http!.path, "");
});

Deno.test("completeFacts() lowercases the facts protocols lowercase, and only those", () => {
  const facts = completeFacts(HTTPS, {
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
  const sql = completeFacts(POSTGRES, {
    sql: { verb: "DROP", verbs: ["DROP", "Select"], tables: ["Users"] },
  }).sql!;
  assertEquals([sql.verb, sql.verbs, sql.tables], ["drop", ["drop", "select"], ["Users"]]);
  assertEquals(completeFacts(KUBERNETES, { k8s: { verb: "DELETE" } }).k8s!.verb, "delete");
});

Deno.test("completeFacts() merges header values whose names differ only in case", () => {
  const facts = completeFacts(HTTPS, {
    http: { headers: { "X-Forwarded-For": ["1.1.1.1"], "x-forwarded-for": ["2.2.2.2"] } },
  });
  assertEquals(facts.http!.headers, { "x-forwarded-for": ["1.1.1.1", "2.2.2.2"] });
});

Deno.test("completeFacts() keeps header names that collide with Object.prototype as plain keys", () => {
  const headers = JSON.parse('{"__proto__": ["a"], "Constructor": ["b"]}');
  const facts = completeFacts(HTTPS, { http: { headers } });
  assertEquals(Object.keys(facts.http!.headers).sort(), ["__proto__", "constructor"]);
  assertEquals(facts.http!.headers["constructor"], ["b"]);
  assertEquals(Object.getPrototypeOf(facts.http!.headers), Object.prototype);
});

Deno.test("completeFacts() keeps ints as numbers, as protocols do", () => {
  assertEquals(completeFacts(HTTPS, { http: { port: 443 } }).http!.port, 443);
  assertEquals(completeFacts(HTTPS, { http: { port: 8443n } }).http!.port, 8443);
  assertEquals(
    completeFacts(POSTGRES, { sql: { statement_count: 2 } }).sql!.statement_count,
    2,
  );
  // Past 2^53 a number is not the int it stands for: refused rather than rounded.
  assertThrows(
    () => completeFacts(HTTPS, { http: { port: 2n ** 60n } }),
    /Fact 'http\.port' must be int, got 1152921504606846976/,
  );
  assertThrows(() => completeFacts(HTTPS, { http: { port: 2 ** 60 } }), TypeError);
});

Deno.test("completeFacts() parses a JSON body into body_json unless given", () => {
  assertEquals(completeFacts(HTTPS, { http: { body: '{"a": [1]}' } }).http!.body_json, {
    a: [1],
  });
  assertEquals(completeFacts(HTTPS, { http: { body: "not json" } }).http!.body_json, null);
  assertEquals(
    completeFacts(HTTPS, { http: { body: "{}", body_json: { given: true } } }).http!.body_json,
    { given: true },
  );
});

Deno.test("completeFacts() rejects unknown fields and families with TypeError", () => {
  assertThrows(() => completeFacts(HTTPS, { http: { methd: "get" } }), TypeError);
  assertThrows(() => completeFacts(HTTPS, { http: { methd: "get" } }), /http\.methd/);
  assertThrows(() => completeFacts(HTTPS, { sql: { verb: "select" } }), TypeError);
  assertThrows(() => completeFacts(POSTGRES, { http: {} }), TypeError);
  assertThrows(() => completeFacts(HTTPS, { agent: { name: "x" } }), TypeError);
  // Names inherited from Object.prototype are not facts either.
  assertThrows(() => completeFacts(HTTPS, { http: { toString: "x" } }), TypeError);
  assertThrows(() => completeFacts(HTTPS, { http: { constructor: "x" } }), TypeError);
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
      () => completeFacts(protocolOf(family)!, partial),
      TypeError,
      JSON.stringify(partial),
    );
  }
});

Deno.test("completeFacts() fills and checks whatever facets a protocol declares", () => {
  const redis = {
    family: "redis",
    facets: [{
      variable: "redis",
      type: "RedisFacts",
      fields: { command: "string", db: "int", reply: "RedisReply" },
      messages: { RedisReply: { kind: "string", size: "int" } },
    }],
  };
  assertEquals(completeFacts(redis, { redis: { db: 2, reply: { kind: "ok" } } }), {
    redis: { command: "", db: 2, reply: { kind: "ok", size: 0 } },
  } as unknown);
  assertThrows(
    () => completeFacts(redis, { redis: { reply: { knd: "ok" } } }),
    /redis\.reply\.knd/,
  );
  assertThrows(() => completeFacts(redis, { http: {} }), /Unknown fact family 'http' for redis/);
});
