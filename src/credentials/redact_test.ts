import { deepStrictEqual as assertEquals, equal, notEqual } from "node:assert/strict";
import type { Facts, HttpFacts } from "../core/mod.ts";
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
