// Property: the rule index returns exactly the rules whose index key the action satisfies, in
// rule order, whatever the keys share (prefixes of each other, forks inside an edge, astral text).

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Constraint, FactsView } from "./_analyze.ts";
import { AffixTree } from "./_affix_tree.ts";
import { RuleIndex } from "./_index.ts";

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A small alphabet makes shared prefixes and suffixes (and so edge splits) common; the astral
// character checks that suffixes are matched by code unit, not by code point.
const ALPHABET = ["a", "b", "/", ".", "é", "😀"];

function text(next: () => number, max: number): string {
  let s = "";
  const n = Math.floor(next() * (max + 1));
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return s;
}

Deno.test("affix tree: finds every key that is a prefix or suffix of the value", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const next = random(seed);
    const keys = Array.from({ length: 1 + Math.floor(next() * 12) }, () => text(next, 5));
    const prefixes = new AffixTree("prefix");
    const suffixes = new AffixTree("suffix");
    keys.forEach((k, i) => {
      prefixes.add(k, i);
      suffixes.add(k, i);
    });
    for (let probe = 0; probe < 20; probe++) {
      // Half the probes extend a key, so hits are common.
      const base = next() < 0.5 ? keys[Math.floor(next() * keys.length)] : "";
      const value = next() < 0.5 ? base + text(next, 4) : text(next, 4) + base;
      const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
      const gotPrefix: number[] = [];
      prefixes.collect(value, gotPrefix);
      const wantPrefix = keys.flatMap((k, i) => value.startsWith(k) ? [i] : []);
      assertEquals(sorted(gotPrefix), wantPrefix, `seed ${seed}: prefixes of ${value}`);
      const gotSuffix: number[] = [];
      suffixes.collect(value, gotSuffix);
      const wantSuffix = keys.flatMap((k, i) => value.endsWith(k) ? [i] : []);
      assertEquals(sorted(gotSuffix), wantSuffix, `seed ${seed}: suffixes of ${value}`);
    }
  }
});

Deno.test("affix tree: a key that splits an existing edge keeps both keys' positions", () => {
  const tree = new AffixTree("prefix");
  tree.add("/repos/org-1/", 0);
  tree.add("/repos/", 1);
  tree.add("/repos/org-12/", 2);
  tree.add("/repos/", 3);
  const found = (v: string) => {
    const out: number[] = [];
    tree.collect(v, out);
    return out;
  };
  assertEquals(found("/repos/org-1/pulls"), [1, 3, 0]);
  assertEquals(found("/repos/org-12/x"), [1, 3, 2]);
  assertEquals(found("/repos"), []);
  assertEquals(found("/repos/org-"), [1, 3]);
});

function satisfies(c: Constraint, view: FactsView): boolean {
  const [family, field] = c.fact.split(".");
  const v = view[family]?.[field];
  if (typeof v !== "string") return true;
  if (c.kind === "eq") return c.values.includes(v);
  return c.kind === "prefix" ? v.startsWith(c.value) : v.endsWith(c.value);
}

Deno.test("rule index: candidates are the rules whose index key holds, ascending", () => {
  const facts = ["http.method", "http.path", "http.host", "agent.profile"];
  for (let seed = 1; seed <= 200; seed++) {
    const next = random(seed);
    const pickOne = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)];
    const rules: Constraint[][] = Array.from({ length: 1 + Math.floor(next() * 30) }, () => {
      const n = Math.floor(next() * 3);
      return Array.from({ length: n }, (): Constraint => {
        const kind = pickOne(["eq", "prefix", "suffix"] as const);
        const fact = pickOne(facts);
        return kind === "eq"
          ? { kind, fact, values: [text(next, 2), text(next, 2)] }
          : { kind, fact, value: text(next, 4) };
      });
    });
    const index = new RuleIndex(rules);
    for (let probe = 0; probe < 20; probe++) {
      const view: FactsView = {
        http: { method: text(next, 2), path: text(next, 6), host: text(next, 6) },
        agent: { profile: text(next, 2) },
      };
      const got = index.candidates(view);
      // The index files each rule under one of its constraints; every rule it leaves out must
      // fail one of its constraints, and what it returns must be in rule order.
      const all = rules.map((_, i) => i);
      const returned = got ?? all;
      assertEquals(returned, [...returned].sort((a, b) => a - b), `seed ${seed}: order`);
      for (const i of all) {
        if (!returned.includes(i)) {
          assertEquals(rules[i].every((c) => satisfies(c, view)), false, `seed ${seed}: rule ${i}`);
        }
      }
    }
  }
});

Deno.test("rule index: a missing or non-string indexed fact means every rule", () => {
  const index = new RuleIndex([
    [{ kind: "prefix", fact: "http.path", value: "/a" }],
    [{ kind: "suffix", fact: "http.host", value: ".corp" }],
    [{ kind: "eq", fact: "http.method", values: ["get"] }],
  ]);
  const view = (http: Record<string, unknown>) => ({ http }) as FactsView;
  assertEquals(index.candidates(view({ path: "/a/b", host: "x.corp", method: "post" })), [0, 1]);
  assertEquals(index.candidates(view({ path: "/b", host: "x.org", method: "get" })), [2]);
  assertEquals(index.candidates(view({ path: "/b", host: "x.org", method: "put" })), []);
  assertEquals(index.candidates(view({ path: "/a", method: "get" })), null);
  assertEquals(index.candidates(view({ path: 1, host: "x.corp", method: "get" })), null);
});
