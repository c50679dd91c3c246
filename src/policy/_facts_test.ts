import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { environmentFor, FACT_SCHEMA, FAMILY_VARIABLES } from "./_facts.ts";

const env = environmentFor("https");

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

Deno.test("FAMILY_VARIABLES gives each family its own facts plus the agent", () => {
  assertEquals(FAMILY_VARIABLES.https, ["http", "agent"]);
  assertEquals(FAMILY_VARIABLES.postgres, ["sql", "agent"]);
  assertEquals(new Set(FAMILY_VARIABLES.kubernetes), new Set(["k8s", "http", "agent"]));
  for (const family of ["https", "postgres", "kubernetes"] as const) {
    for (const variable of Object.keys(FACT_SCHEMA)) {
      const declared = (FAMILY_VARIABLES[family] as string[]).includes(variable);
      assertEquals(environmentFor(family).hasVariable(variable), declared, `${family} ${variable}`);
    }
  }
});
