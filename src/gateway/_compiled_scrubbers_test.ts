import { equal, notEqual } from "node:assert/strict";
import { Scrubber } from "../credentials/mod.ts";
import { CompiledScrubbers, SETS_PER_OWNER } from "./_compiled_scrubbers.ts";

const IDLE_MS = 1_000;

/** A cache on a clock the test moves, and the values each compile was asked for. */
function fixture() {
  let clock = 0;
  const compiled: string[] = [];
  const cache = new CompiledScrubbers({ idleMs: IDLE_MS, now: () => clock });
  const get = (owner: string, values: (string | null)[]) =>
    cache.get(owner, values, () => {
      compiled.push(`${owner}:${values.join(",")}`);
      const forms = values.flatMap((v, i): [string, string][] => v === null ? [] : [[v, `P${i}`]]);
      return forms.length > 0 ? new Scrubber(forms) : null;
    });
  return { cache, get, compiled, tick: (ms: number) => clock += ms };
}

Deno.test("CompiledScrubbers compiles each value set once while owners switch between sets", () => {
  const { cache, get, compiled } = fixture();
  const a = get("gh", ["token-a", "pat"]);
  const b = get("gh", [null, "pat"]);
  notEqual(a, b);
  for (let i = 0; i < 5; i++) {
    equal(get("gh", ["token-a", "pat"]), a);
    equal(get("gh", [null, "pat"]), b);
  }
  equal(compiled.length, 2);
  // Another owner with the same values is compiled for itself (its placeholders differ).
  notEqual(get("k8s", ["token-a", "pat"]), a);
  equal(compiled.length, 3);
  equal(cache.size, 3);
  equal(cache.compiles, 3);
});

Deno.test("CompiledScrubbers tells value sets apart by every position, null included", () => {
  const { get, compiled } = fixture();
  const sets = [["x", null], [null, "x"], ["x"], ["x", null, null], ["x", "y"], [null, null]];
  // Two owners, so that every set is kept.
  for (const [i, set] of sets.entries()) get(`e${i % 2}`, set);
  equal(compiled.length, sets.length);
  for (const [i, set] of sets.entries()) get(`e${i % 2}`, set);
  equal(compiled.length, sets.length, "a kept set was compiled again");
});

Deno.test("CompiledScrubbers keeps the most recently used sets of an owner, and no more", () => {
  const { cache, get, compiled } = fixture();
  const sets = Array.from({ length: SETS_PER_OWNER + 1 }, (_, i) => [`v${i}`]);
  for (const set of sets.slice(0, SETS_PER_OWNER)) get("e", set);
  // Using the oldest makes it the newest: the next new set pushes out v1 instead.
  get("e", sets[0]);
  get("e", sets[SETS_PER_OWNER]);
  equal(cache.size, SETS_PER_OWNER);
  const before = compiled.length;
  get("e", sets[0]);
  equal(compiled.length, before, "the most recently used set was dropped");
  get("e", sets[1]);
  equal(compiled.length, before + 1, "the least recently used set was kept");
  equal(cache.size, SETS_PER_OWNER);
});

Deno.test("CompiledScrubbers drops a set unused for the idle limit even while its owner is busy", () => {
  const { cache, get, compiled, tick } = fixture();
  get("e", ["old-token"]);
  tick(IDLE_MS / 2);
  get("e", ["new-token"]);
  tick(IDLE_MS / 2);
  // The old set has gone unused for the whole limit; the new one for half of it.
  get("e", ["new-token"]);
  equal(cache.size, 1, "a secret value outlived the idle limit");
  equal(compiled.length, 2);
  get("e", ["old-token"]);
  equal(compiled.length, 3);
  // Used again within the limit, a set stays.
  tick(IDLE_MS - 1);
  get("e", ["old-token"]);
  equal(compiled.length, 3);
  tick(IDLE_MS);
  get("e", ["old-token"]);
  equal(compiled.length, 4, "a set idle past the limit was used again");
  equal(cache.size, 1);
});

Deno.test("CompiledScrubbers.clear drops every owner's sets", () => {
  const { cache, get, compiled } = fixture();
  get("a", ["1"]);
  get("b", ["2"]);
  cache.clear();
  equal(cache.size, 0);
  get("a", ["1"]);
  equal(compiled.length, 3);
});
