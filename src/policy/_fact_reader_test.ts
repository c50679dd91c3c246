import {
  deepStrictEqual as assertEquals,
  strictEqual as assertStrictEquals,
} from "node:assert/strict";
import { PROTOCOLS } from "../protocols/registry.ts";
import type { FactsView } from "./_analyze.ts";
import { factReader, WRITTEN_OUT_FACTS } from "./_fact_reader.ts";
import { factSchema } from "./_facts.ts";

const schema = factSchema(PROTOCOLS);

/** A view where every declared field of every facet holds a value of its own. */
function distinctView(): FactsView {
  const view: FactsView = {};
  for (const [family, fields] of schema) {
    const facts: Record<string, unknown> = {};
    for (const field of Object.keys(fields)) facts[field] = { fact: `${family}.${field}` };
    view[family] = facts;
  }
  return view;
}

Deno.test("fact readers: every written-out reader names a declared fact", () => {
  for (const fact of WRITTEN_OUT_FACTS) {
    const [family, field] = fact.split(".");
    const fields = schema.get(family);
    assertEquals(fields !== undefined && Object.hasOwn(fields, field), true, fact);
  }
});

Deno.test("fact readers: each reads its own fact, the same value the plain read gives", () => {
  const view = distinctView();
  let checked = 0;
  for (const [family, fields] of schema) {
    for (const field of Object.keys(fields)) {
      const got = factReader(family, field)(view);
      assertStrictEquals(got, view[family]![field], `${family}.${field}`);
      checked++;
    }
  }
  // Written out or not, every declared fact was read through the reader it would be given.
  assertEquals(checked >= WRITTEN_OUT_FACTS.length, true);
});

Deno.test("fact readers: a fact whose family is absent reads undefined, not a throw", () => {
  for (const fact of [...WRITTEN_OUT_FACTS, "custom.thing"]) {
    const [family, field] = fact.split(".");
    assertStrictEquals(factReader(family, field)({}), undefined, fact);
  }
});

Deno.test("fact readers: a fact with no written-out reader is read the plain way", () => {
  const read = factReader("custom", "thing");
  assertStrictEquals(read({ custom: { thing: "x" } }), "x");
  assertStrictEquals(read({ custom: { other: "x" } }), undefined);
});
