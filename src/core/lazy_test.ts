import { deepStrictEqual as assertEquals, rejects, throws } from "node:assert/strict";
import { Lazy, NotLoaded, withLibraries } from "./lazy.ts";

/** A library whose loads are counted, failing the first `failures` of them. */
function counted(failures = 0) {
  const state = { loads: 0 };
  const library = new Lazy("fake", () => {
    state.loads++;
    if (state.loads <= failures) return Promise.reject(new Error("disk on fire"));
    return Promise.resolve({ double: (n: number) => n * 2 });
  });
  return { library, state };
}

Deno.test("get() throws NotLoaded until ready() resolves, then loads no more", async () => {
  const { library, state } = counted();
  throws(() => library.get(), NotLoaded);
  assertEquals(library.loaded, false);
  const [a, b] = await Promise.all([library.ready(), library.ready()]);
  assertEquals(a, b);
  assertEquals(state.loads, 1);
  assertEquals(library.get().double(4), 8);
  await library.ready();
  assertEquals(state.loads, 1);
});

Deno.test("withLibraries() stays synchronous when nothing is missing", () => {
  const result = withLibraries(() => 42);
  assertEquals(result, 42);
});

Deno.test("withLibraries() loads what the pass missed and runs it again", async () => {
  const one = counted();
  const two = counted();
  let runs = 0;
  const result = withLibraries(() => {
    runs++;
    return one.library.get().double(1) + two.library.get().double(10);
  });
  assertEquals(result instanceof Promise, true);
  assertEquals(await result, 22);
  // One pass before anything was in, one with the first library, one with both.
  assertEquals(runs, 3);
});

Deno.test("withLibraries() passes other errors through untouched", async () => {
  throws(() => withLibraries(() => JSON.parse("{")), SyntaxError);
  const { library } = counted();
  let first = true;
  const made = withLibraries(() => {
    if (first) {
      first = false;
      library.get();
    }
    throw new RangeError("bad input");
  });
  await rejects(Promise.resolve(made), RangeError);
});

Deno.test("a load that fails fails the call, and the next call loads again", async () => {
  const { library, state } = counted(1);
  await rejects(Promise.resolve(withLibraries(() => library.get().double(2))), /disk on fire/);
  assertEquals(library.loaded, false);
  assertEquals(await withLibraries(() => library.get().double(2)), 4);
  assertEquals(state.loads, 2);
});

Deno.test("withLibraries() gives up after a bounded number of loads", async () => {
  // A pass that keeps missing a library (a bug) must not loop for ever.
  const libraries = Array.from({ length: 10 }, () => counted().library);
  let runs = 0;
  const made = withLibraries(() => libraries[runs++].get());
  await rejects(Promise.resolve(made), NotLoaded);
  assertEquals(runs, 5);
});
