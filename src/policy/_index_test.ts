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

/** Whether `c` holds for `view`; true wherever CEL could decide otherwise (the index's promise). */
function satisfies(c: Constraint, view: FactsView): boolean {
  if (c.kind === "any") return c.branches.some((b) => b.every((x) => satisfies(x, view)));
  const [family, field] = c.fact.split(".");
  const v = view[family]?.[field];
  if (c.kind === "member") {
    if (Array.isArray(v)) return v.some((x) => typeof x !== "string") || v.includes(c.value);
    const plain = typeof v === "object" && v !== null &&
      [Object.prototype, null].includes(Object.getPrototypeOf(v));
    return !plain || Object.hasOwn(v, c.value);
  }
  if (typeof v !== "string") return true;
  if (c.kind === "eq") return c.values.includes(v);
  return c.kind === "prefix" ? v.startsWith(c.value) : v.endsWith(c.value);
}

Deno.test("rule index: candidates are the rules whose index key holds, ascending", () => {
  const facts = ["http.method", "http.path", "http.host", "agent.profile"];
  const collections = ["http.query", "http.path_anomalies"];
  for (let seed = 1; seed <= 300; seed++) {
    const next = random(seed);
    const pickOne = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)];
    const simple = (): Constraint => {
      const kind = pickOne(["eq", "prefix", "suffix", "member"] as const);
      if (kind === "member") return { kind, fact: pickOne(collections), value: text(next, 1) };
      const fact = pickOne(facts);
      return kind === "eq"
        ? { kind, fact, values: [text(next, 2), text(next, 2)] }
        : { kind, fact, value: text(next, 4) };
    };
    // A branch of a disjunction: its own conjunction, a disjunction nested in it at times.
    const branch = (depth: number): Constraint[] =>
      Array.from(
        { length: Math.floor(next() * 3) },
        () => depth < 2 && next() < 0.2 ? any(depth + 1) : simple(),
      );
    const any = (depth: number): Constraint => {
      const branches = Array.from({ length: 2 + Math.floor(next() * 2) }, () => branch(depth));
      return { kind: "any", branches, reads: [...new Set(branches.flat().flatMap(readsOf))] };
    };
    const rules: Constraint[][] = Array.from({ length: 1 + Math.floor(next() * 30) }, () => {
      return Array.from(
        { length: Math.floor(next() * 3) },
        () => next() < 0.3 ? any(0) : simple(),
      );
    });
    const index = new RuleIndex(rules);
    for (let probe = 0; probe < 20; probe++) {
      const view: FactsView = {
        http: {
          method: text(next, 2),
          path: text(next, 6),
          host: text(next, 6),
          query: collection(next),
          path_anomalies: collection(next),
        },
        agent: { profile: text(next, 2) },
      };
      const got = index.candidates(view);
      // Every rule the index leaves out must fail one of its constraints, and what it returns
      // must be in rule order, each rule once.
      const all = rules.map((_, i) => i);
      const returned = got ?? all;
      assertEquals(returned, [...new Set(returned)].sort((a, b) => a - b), `seed ${seed}: order`);
      for (const i of all) {
        if (!returned.includes(i)) {
          assertEquals(rules[i].every((c) => satisfies(c, view)), false, `seed ${seed}: rule ${i}`);
        }
      }
    }
  }
});

/** The facts a constraint reads. */
function readsOf(c: Constraint): string[] {
  return c.kind === "any" ? c.reads : [c.fact];
}

/** A map or list fact, well formed most of the time, and of the kinds CEL may fail on else. */
function collection(next: () => number): unknown {
  const keys = Array.from({ length: Math.floor(next() * 3) }, () => text(next, 1));
  const shape = next();
  if (shape < 0.4) return Object.fromEntries(keys.map((k) => [k, ["1"]]));
  if (shape < 0.55) {
    return Object.assign(Object.create(null), Object.fromEntries(keys.map((k) => [k, []])));
  }
  if (shape < 0.8) return keys;
  if (shape < 0.85) return [...keys, 7];
  if (shape < 0.9) return new Map(keys.map((k) => [k, ["1"]]));
  if (shape < 0.95) return Object.create(Object.fromEntries(keys.map((k) => [k, ["1"]])));
  return keys.join("");
}

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

Deno.test("rule index: a disjunction is filed under a key per branch and reads all its facts", () => {
  const job = (i: number): Constraint => ({
    kind: "any",
    branches: [
      [{ kind: "prefix", fact: "k8s.name", value: `job-${i}-` }],
      [{ kind: "member", fact: "http.query", value: `debug${i}` }],
    ],
    reads: ["k8s.name", "http.query", "k8s.verb"],
  });
  const index = new RuleIndex([[job(1)], [job(2)], [{
    kind: "eq",
    fact: "k8s.verb",
    values: ["get"],
  }]]);
  const view = (name: string, query: unknown, verb = "list") =>
    ({ k8s: { name, verb }, http: { query } }) as FactsView;
  assertEquals(index.candidates(view("", { limit: ["500"] })), []);
  assertEquals(index.candidates(view("job-2-x", { debug1: [""] })), [0, 1]);
  assertEquals(index.candidates(view("job-1-x", { debug1: [""] }, "get")), [0, 2]);
  assertEquals(index.candidates(view("", ["debug2", "debug2"])), [1]);
  // A query the index cannot read for sure: every rule.
  assertEquals(index.candidates(view("", new Map([["debug1", [""]]]))), null);
  assertEquals(index.candidates(view("", [7])), null);
  // What the disjunction reads besides its keys makes the index unusable when unknown.
  assertEquals([...index.facts].sort(), ["http.query", "k8s.name", "k8s.verb"]);
});
