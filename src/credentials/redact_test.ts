import { deepStrictEqual as assertEquals, equal, notEqual } from "node:assert/strict";
import type { Facts, HttpFacts, K8sFacts } from "../core/mod.ts";
import { REDACTED, redactFacts } from "./redact.ts";

/** A fact map as the HTTP protocol builds one: null prototype, any key a plain key. */
function factMap(entries: [string, string[]][]): Record<string, string[]> {
  const map = Object.create(null) as Record<string, string[]>;
  for (const [name, values] of entries) map[name] = values;
  return map;
}

function http(headers: [string, string[]][], query: [string, string[]][]): Facts {
  return {
    http: {
      method: "get",
      host: "api.example",
      port: 443,
      headers: factMap(headers),
      query: factMap(query),
    } as unknown as HttpFacts,
  };
}

Deno.test("redactFacts() replaces credential header values, keeping an Authorization scheme", () => {
  const facts = http([
    ["authorization", ["Bearer ghp_secret", "opaque"]],
    ["cookie", ["session=s3cret"]],
    ["x-api-key", ["sk-1"]],
    ["accept", ["application/json"]],
  ], []);
  const headers = redactFacts(facts).http!.headers;
  assertEquals(headers.authorization, [`Bearer ${REDACTED}`, REDACTED]);
  assertEquals(headers.cookie, [REDACTED]);
  assertEquals(headers["x-api-key"], [REDACTED]);
  assertEquals(headers.accept, ["application/json"]);
  // The facts rules saw are left as they were.
  assertEquals(facts.http!.headers.authorization, ["Bearer ghp_secret", "opaque"]);
  const noHttp: Facts = { sql: undefined };
  equal(redactFacts(noHttp), noHttp);
});

Deno.test("redactFacts() copies the header and query maps to ordinary objects, every key kept", () => {
  const odd: [string, string[]][] = [
    ["2", ["b"]],
    ["__proto__", ["p"]],
    ["constructor", ["c"]],
    ["1", ["a"]],
    ["toString", ["t"]],
  ];
  const facts = http(odd, odd);
  const redacted = redactFacts(facts).http!;
  for (const map of [redacted.headers, redacted.query]) {
    // Not the null-prototype maps: those send V8's JSON.stringify down its slow path.
    equal(Object.getPrototypeOf(map), Object.prototype);
    assertEquals(Object.keys(map), ["1", "2", "__proto__", "constructor", "toString"]);
    assertEquals(Object.getOwnPropertyDescriptor(map, "__proto__")?.value, ["p"]);
    assertEquals(Object.getOwnPropertyDescriptor(map, "constructor")?.value, ["c"]);
  }
  // The receipt reads the same as the maps themselves would.
  equal(JSON.stringify(redacted.query), JSON.stringify(facts.http!.query));
  equal(JSON.stringify(redacted.headers), JSON.stringify(facts.http!.headers));
  notEqual(redacted.query, facts.http!.query);
});

Deno.test("redactFacts() copies a Kubernetes request's params to an ordinary object, and leaves the rules' facts alone", () => {
  const odd: [string, string[]][] = [["__proto__", ["p"]], ["watch", ["1"]], ["constructor", [
    "c",
  ]]];
  const params = factMap(odd);
  const k8s = { verb: "list", resource: "pods", params } as unknown as K8sFacts;
  for (const facts of [{ k8s }, { ...http([], odd), k8s }] as Facts[]) {
    const redacted = redactFacts(facts);
    const copy = redacted.k8s!.params;
    notEqual(copy, params);
    equal(Object.getPrototypeOf(copy), Object.prototype);
    assertEquals(Object.keys(copy), ["__proto__", "watch", "constructor"]);
    assertEquals(Object.getOwnPropertyDescriptor(copy, "__proto__")?.value, ["p"]);
    equal(JSON.stringify(redacted.k8s), JSON.stringify(facts.k8s));
    equal(redacted.k8s!.verb, "list");
    // What the rules read keeps its null prototype: `constructor` is only ever a key there.
    equal(Object.getPrototypeOf(facts.k8s!.params), null);
    equal(facts.k8s!.params, params);
  }
  // Facts of another family come back as they are.
  const sql = { sql: { verb: "select" } } as unknown as Facts;
  equal(redactFacts(sql), sql);
});

Deno.test("redactFacts() keeps each scheme word as the agent spelled it, request after request", () => {
  for (let round = 0; round < 2; round++) {
    const headers = redactFacts(http([["authorization", [
      "bearer a",
      "BEARER b",
      "Bearer c",
      "token d",
      "Digest e",
      "BASIC f",
      "Bearerx g",
    ]]], [])).http!.headers;
    assertEquals(headers.authorization, [
      `bearer ${REDACTED}`,
      `BEARER ${REDACTED}`,
      `Bearer ${REDACTED}`,
      `token ${REDACTED}`,
      `Digest ${REDACTED}`,
      `BASIC ${REDACTED}`,
      REDACTED,
    ]);
  }
});
