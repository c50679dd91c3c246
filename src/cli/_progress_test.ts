import { deepStrictEqual } from "node:assert/strict";
import { TerminalProgress } from "./_progress.ts";

Deno.test("TerminalProgress rewrites one line at most once an interval, always at the end, and clears it", () => {
  const written: string[] = [];
  let now = 0;
  const progress = new TerminalProgress("verifying", (t) => written.push(t), {
    now: () => now,
    intervalMs: 100,
  });
  progress.update(10_000, 250_000);
  now = 50;
  progress.update(20_000, 250_000); // within the interval: not shown
  now = 150;
  progress.update(30_000, 250_000);
  now = 160;
  progress.update(250_000, 250_000); // the end is always shown
  progress.end();
  deepStrictEqual(written, [
    "\rverifying: 10,000 of 250,000 rows (4%)\x1b[K",
    "\rverifying: 30,000 of 250,000 rows (12%)\x1b[K",
    "\rverifying: 250,000 of 250,000 rows (100%)\x1b[K",
    "\r\x1b[K",
  ]);
});

Deno.test("TerminalProgress writes nothing when it never showed a line", () => {
  const written: string[] = [];
  new TerminalProgress("verifying", (t) => written.push(t)).end();
  deepStrictEqual(written, []);
});
