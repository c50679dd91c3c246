import { deepEqual, equal, rejects } from "node:assert/strict";
import { AuditUnavailableError } from "../core/mod.ts";
import { CommitTracker } from "./_commits.ts";

Deno.test("CommitTracker wakes waiters in order as rows commit", async () => {
  const t = new CommitTracker(() => 0);
  const a = t.recorded(), b = t.recorded(), c = t.recorded();
  deepEqual([a, b, c, t.queued], [1, 2, 3, 3]);
  const woke: number[] = [];
  const waits = [a, b, c].map((n) => t.waitFor(n).then(() => woke.push(n)));
  t.committed(2);
  await Promise.resolve();
  await Promise.resolve();
  deepEqual(woke, [1, 2]);
  t.committed(1);
  await Promise.all(waits);
  deepEqual(woke, [1, 2, 3]);
  equal(t.queued, 0);
  await t.waitFor(1); // already committed: resolves at once
});

Deno.test("CommitTracker rejects every waiter when commits fail", async () => {
  const t = new CommitTracker(() => 0);
  const wait = t.waitFor(t.recorded());
  t.rejectAll(new AuditUnavailableError("disk full"));
  await rejects(wait, AuditUnavailableError);
});

Deno.test("CommitTracker ages the oldest unwritten row, not the newest", () => {
  let now = 0;
  const t = new CommitTracker(() => now);
  equal(t.oldestWaitMs(), 0);
  t.recorded(); // row 1 at 0
  now = 100;
  t.recorded(); // row 2 at 100
  now = 300;
  equal(t.oldestWaitMs(), 300);
  t.committed(1); // row 2 (recorded at 100) still waits
  equal(t.oldestWaitMs(), 200);
  now = 1000;
  t.recorded(); // row 3 at 1000
  equal(t.oldestWaitMs(), 900);
  t.committed(1);
  equal(t.oldestWaitMs(), 0);
  t.committed(1);
  equal(t.oldestWaitMs(), 0);
  now = 1200;
  t.recorded();
  now = 1250;
  equal(t.oldestWaitMs(), 50);
});
