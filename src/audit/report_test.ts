import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import type { Receipt } from "../core/mod.ts";
import { rolloutReport } from "./report.ts";

const HOUR = 3600_000;

function receipt(at: string, rule: string, overrides: Partial<Receipt> = {}): Receipt {
  return {
    time: new Date(at),
    agent: "bot",
    endpoint: "api",
    protocol: "https",
    summary: "GET api.test/x",
    rule,
    mode: "enforce",
    verdict: "allow",
    wouldBe: "allow",
    reason: "allowed",
    approvals: [],
    id: "rcpt_X",
    ...overrides,
  } as Receipt;
}

Deno.test("rolloutReport() counts each rule's hits per bucket when asked, oldest first", () => {
  const receipts = [
    receipt("2026-12-05T10:59:59Z", "reads"),
    receipt("2026-12-05T09:10:00Z", "reads", { verdict: "deny", wouldBe: "deny" }),
    receipt("2026-12-05T10:00:00Z", "reads"),
    receipt("2026-12-05T10:30:00Z", "held", {
      approvals: [{ approver: "a", decision: "allow", who: "cli:x", reason: "", latencyMs: 1 }],
    }),
  ];
  const report = rolloutReport(receipts, { bucketMs: HOUR });
  const reads = report.rules.find((r) => r.rule === "reads")!;
  assertEquals([reads.allow, reads.deny, reads.held], [2, 1, 0]);
  assertEquals(reads.timeline, [
    { start: "2026-12-05T09:00:00.000Z", allow: 0, deny: 1, held: 0 },
    { start: "2026-12-05T10:00:00.000Z", allow: 2, deny: 0, held: 0 },
  ]);
  assertEquals(report.rules.find((r) => r.rule === "held")!.timeline, [
    { start: "2026-12-05T10:00:00.000Z", allow: 0, deny: 0, held: 1 },
  ]);
  // Without buckets, `clawpatrol report`'s figures carry no timeline.
  equal(rolloutReport(receipts).rules[0].timeline, undefined);
});
