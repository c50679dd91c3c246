import { deepEqual, equal } from "node:assert/strict";
import { Health } from "./health.ts";

Deno.test("health is ok without problems, degraded or unhealthy by the worst one", () => {
  let t = 0;
  const health = new Health(() => new Date(Date.UTC(2026, 0, 1, 0, 0, t++)));
  deepEqual(health.report(), { status: "ok", problems: [] });
  health.set("accept", "degraded", "too many open files");
  equal(health.report().status, "degraded");
  health.set("receipts", "unhealthy", "disk full");
  equal(health.report().status, "unhealthy");
  // Updating a problem keeps when it started.
  health.set("receipts", "unhealthy", "read-only file system");
  const receipts = health.report().problems.find((p) => p.component === "receipts")!;
  equal(receipts.cause, "read-only file system");
  equal(receipts.since, "2026-01-01T00:00:01.000Z");
  equal(health.clear("receipts"), true);
  equal(health.clear("receipts"), false);
  equal(health.report().status, "degraded");
  health.clear("accept");
  equal(health.report().status, "ok");
});
