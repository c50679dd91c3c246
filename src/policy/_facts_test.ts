import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import type { Facts, Protocol } from "../core/mod.ts";
import { environmentFor, facetsOf, factSchema, factsContext } from "./_facts.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";

const env = environmentFor(protocolOf("https")!);

function sets(expression: string): unknown {
  return env.evaluate(expression, {});
}

Deno.test("sets.contains() holds when every element of the second list is in the first", () => {
  assertEquals(sets("sets.contains(['a', 'b', 'c'], ['c', 'a'])"), true);
  assertEquals(sets("sets.contains(['a', 'b'], ['a', 'a'])"), true);
  assertEquals(sets("sets.contains(['a'], [])"), true);
  assertEquals(sets("sets.contains([], [])"), true);
  assertEquals(sets("sets.contains(['a', 'b'], ['a', 'z'])"), false);
  assertEquals(sets("sets.contains([], ['a'])"), false);
  assertEquals(sets("sets.contains(['A'], ['a'])"), false);
});

Deno.test("sets.intersects() holds when the lists share at least one element", () => {
  assertEquals(sets("sets.intersects(['a', 'b'], ['z', 'b'])"), true);
  assertEquals(sets("sets.intersects(['a', 'b'], ['z'])"), false);
  assertEquals(sets("sets.intersects([], ['a'])"), false);
  assertEquals(sets("sets.intersects(['a'], [])"), false);
});

Deno.test("sets.equivalent() ignores order and duplicates", () => {
  assertEquals(sets("sets.equivalent(['a', 'b', 'b'], ['b', 'a'])"), true);
  assertEquals(sets("sets.equivalent([], [])"), true);
  assertEquals(sets("sets.equivalent(['a'], ['a', 'b'])"), false);
  assertEquals(sets("sets.equivalent(['a', 'b'], ['a'])"), false);
});

Deno.test("sets.*() compare ints and doubles by numeric value", () => {
  assertEquals(sets("sets.contains([1, 2, 3], [2.0, 3])"), true);
  assertEquals(sets("sets.contains([1.0, 2.0], [1])"), true);
  assertEquals(sets("sets.intersects([1.5], [1])"), false);
  assertEquals(sets("sets.equivalent([1, 2], [2.0, 1.0])"), true);
  assertEquals(sets("sets.contains([1], ['1'])"), false);
});

Deno.test("sets.*() compare large ints and doubles exactly, not after rounding to a double", () => {
  // 2^53 + 1 is not representable as a double; rounding it would make it equal 2^53.
  assertEquals(sets("sets.contains([9007199254740993], [9007199254740992.0])"), false);
  assertEquals(sets("sets.contains([9007199254740992], [9007199254740992.0])"), true);
});

Deno.test("sets.*() compare uints with ints and doubles by value", () => {
  assertEquals(sets("sets.contains([1u, 2u], [2])"), true);
  assertEquals(sets("sets.contains([1], [1u])"), true);
  assertEquals(sets("sets.intersects([3u], [3.0])"), true);
  assertEquals(sets("sets.contains([1u], [2u])"), false);
});

Deno.test("sets.*() compare nested lists and maps by value, as CEL's == does", () => {
  assertEquals(sets("sets.contains([['a', 'b'], ['c']], [['c']])"), true);
  assertEquals(sets("sets.contains([['a', 'b']], [['b', 'a']])"), false);
  assertEquals(sets("sets.contains([{'k': 1}], [{'k': 1}])"), true);
  assertEquals(sets("sets.contains([{'k': 1}], [{'k': 2}])"), false);
  assertEquals(sets("sets.contains([{'k': 1}], [{'k': 1, 'j': 2}])"), false);
  assertEquals(sets("sets.intersects([[1]], [[1.0]])"), true);
  assertEquals(sets("sets.contains([duration('1s')], [duration('1000ms')])"), true);
  assertEquals(sets("sets.contains([duration('1s')], [duration('2s')])"), false);
});

Deno.test("sets.*() reject arguments that are not lists at load", () => {
  const checked = env.check("sets.contains(http.method, ['get'])");
  assertEquals(checked.valid, false);
  assertThrows(() => env.evaluate("sets.contains('a', ['a'])", {}));
});

Deno.test("environmentFor() declares exactly the protocol's facets plus the agent", () => {
  const variables = (family: string) => facetsOf(protocolOf(family)!).map((f) => f.variable);
  assertEquals(variables("https"), ["http", "agent"]);
  assertEquals(variables("postgres"), ["sql", "agent"]);
  assertEquals(new Set(variables("kubernetes")), new Set(["k8s", "http", "agent"]));
  for (const protocol of PROTOCOLS) {
    for (const variable of factSchema(PROTOCOLS).keys()) {
      const declared = variables(protocol.family).includes(variable);
      assertEquals(
        environmentFor(protocol).hasVariable(variable),
        declared,
        `${protocol.family} ${variable}`,
      );
    }
  }
});

/** A protocol the registry does not have: policy must take any facet it is given as data. */
const REDIS: Protocol = {
  family: "redis",
  facets: [{
    variable: "redis",
    type: "RedisFacts",
    fields: { command: "string", keys: "list<string>", reply: "RedisReply" },
    messages: { RedisReply: { kind: "string" } },
  }],
};

Deno.test("environmentFor() type-checks rules against whatever facets a protocol declares", () => {
  const redis = environmentFor(REDIS);
  assertEquals(redis.check("redis.command == 'get' && agent.name == 'bot'").valid, true);
  assertEquals(redis.check("redis.reply.kind == 'error'").valid, true);
  assertEquals(redis.check("redis.comand == 'get'").valid, false);
  assertEquals(redis.check("redis.reply.knd == 'error'").valid, false);
  assertEquals(redis.check("http.method == 'get'").valid, false);
});

Deno.test("factsContext() wraps a declared facet, message fields included, for evaluation", () => {
  const facts = { redis: { command: "del", keys: ["a"], reply: { kind: "error" } } };
  const ctx = factsContext(REDIS, facts as Facts, { name: "bot", profile: "oncall" });
  const rule = environmentFor(REDIS).parse(
    "redis.command == 'del' && 'a' in redis.keys && redis.reply.kind == 'error' && " +
      "agent.profile == 'oncall'",
  );
  assertEquals(rule(ctx), true);
});

Deno.test("factsContext() gives rules a fact's plain-number ints as CEL ints", () => {
  const https = protocolOf("https")!;
  const postgres = protocolOf("postgres")!;
  const agent = { name: "bot", profile: "oncall" };
  const port = environmentFor(https).parse("http.port == 8443 && http.port > 443");
  assertEquals(port(factsContext(https, { http: { port: 8443 } } as Facts, agent)), true);
  assertEquals(port(factsContext(https, { http: { port: 443 } } as Facts, agent)), false);
  const count = environmentFor(postgres).parse("sql.statement_count > 1");
  assertEquals(
    count(factsContext(postgres, { sql: { statement_count: 2 } } as Facts, agent)),
    true,
  );
  assertEquals(
    count(factsContext(postgres, { sql: { statement_count: 1 } } as Facts, agent)),
    false,
  );
  // The facts stay numbers: their receipt is serialised from them.
  const facts = { sql: { statement_count: 2 } } as Facts;
  factsContext(postgres, facts, agent);
  assertEquals(facts.sql!.statement_count, 2);
  // Ints inside a message type too.
  const counter: Protocol = {
    family: "counter",
    facets: [{
      variable: "c",
      type: "Counter",
      fields: { reply: "Reply" },
      messages: { Reply: { size: "int" } },
    }],
  };
  const size = environmentFor(counter).parse("c.reply.size == 3");
  assertEquals(size(factsContext(counter, { c: { reply: { size: 3 } } } as Facts, agent)), true);
  // What is not an integer cannot be one: wrapping throws, and the rule reading it denies.
  assertThrows(() => factsContext(https, { http: { port: 1.5 } } as unknown as Facts, agent));
  // An absent int stays absent: rules that do not read it still evaluate.
  const method = environmentFor(https).parse("http.method == 'get'");
  assertEquals(method(factsContext(https, { http: { method: "get" } } as Facts, agent)), true);
});
