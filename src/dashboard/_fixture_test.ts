import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { parse } from "yaml";
import type { Receipt } from "../core/mod.ts";
import { receiptFixture } from "./_fixture.ts";

const base = {
  id: "rcpt_01AB",
  seq: 7,
  agent: "bot",
  profile: "bots",
  endpoint: "api",
  protocol: "https",
  summary: "DELETE api.test/x",
  facts: { http: { method: "delete", path: "/x" } },
  rule: "no-deletes",
  mode: "enforce",
  verdict: "deny",
  wouldBe: "deny",
  approvals: [],
} as unknown as Receipt;

Deno.test("a fixture expects what the gateway decided, per mode and approval", () => {
  const expect = (r: Partial<Receipt>, mode: "enforce" | "observe" = "enforce") =>
    parse(receiptFixture({ ...base, ...r }, mode)!)[0].expect;
  assertEquals(expect({}), { verdict: "deny", rule: "no-deletes" });
  assertEquals(
    expect({ approvals: [{ who: "cli:x" }] as Receipt["approvals"], verdict: "allow" }),
    {
      verdict: "approve",
      rule: "no-deletes",
    },
  );
  // An observe-mode rule lets the action through when replayed; gateway-wide observe does not.
  assertEquals(expect({ mode: "observe", verdict: "allow" }).verdict, "allow");
  assertEquals(expect({ mode: "observe", verdict: "allow" }, "observe").verdict, "deny");
  assertEquals(expect({ rule: null }).rule, null);
});

Deno.test("a fixture keeps the facts and agent as recorded; gateway refusals have none", () => {
  const [entry] = parse(receiptFixture(base, "enforce")!);
  assertEquals(entry.endpoint, "api");
  assertEquals(entry.agent, { name: "bot", profile: "bots" });
  assertEquals(entry.facts, base.facts);
  assertEquals(receiptFixture({ ...base, endpoint: null }, "enforce"), null);
  assertEquals(receiptFixture({ ...base, facts: {} }, "enforce"), null);
});
