import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { isoTime } from "./_iso_time.ts";
import { SeededRng } from "../../tests/_rng.ts";

Deno.test("isoTime() writes what toISOString() writes, in and across seconds (property)", () => {
  const rnd = new SeededRng(7).float;
  const starts = [
    Date.UTC(2026, 11, 6, 9, 0, 0, 0),
    Date.UTC(1999, 11, 31, 23, 59, 59, 990), // into a new year
    -1_500, // before the epoch: negative ms in a second
    Date.UTC(1, 0, 1), // year 0001
    Date.UTC(9999, 11, 31, 23, 59, 59, 995), // into year 10000, a longer form
    -62_198_755_200_000, // year -0001, a longer form
  ];
  let checked = 0;
  for (const start of starts) {
    let ms = start;
    for (let i = 0; i < 2_000; i++) {
      // Mostly a few ms apart (same second), sometimes a jump, sometimes back in time.
      const r = rnd();
      ms += r < 0.7
        ? Math.floor(rnd() * 5)
        : r < 0.9
        ? Math.floor(rnd() * 3_000)
        : -Math.floor(rnd() * 2_000);
      const date = new Date(ms);
      assertEquals(isoTime(date), date.toISOString(), `at ${ms}`);
      checked++;
    }
  }
  assertEquals(checked, starts.length * 2_000);
});

Deno.test("isoTime() throws for an invalid date, as toISOString() does", () => {
  isoTime(new Date(Date.UTC(2026, 0, 1)));
  throws(() => isoTime(new Date(Number.NaN)), RangeError);
  // And goes on formatting after it.
  assertEquals(isoTime(new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 5))), "2026-01-01T00:00:00.005Z");
});
