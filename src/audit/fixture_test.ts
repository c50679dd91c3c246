import { deepStrictEqual as assertEquals, equal, match } from "node:assert/strict";
import { parse } from "yaml";
import type { Mode, Receipt } from "../core/mod.ts";
import { fixturesYaml, receiptFixture } from "./fixture.ts";

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
  reason: "deletes are not allowed",
  approvals: [],
} as unknown as Receipt;

function made(r: Partial<Receipt>, gatewayMode: Mode = "enforce", observeRules: string[] = []) {
  const fixture = receiptFixture({ ...base, ...r }, {
    gatewayMode,
    ruleMode: (name) => observeRules.includes(name) ? "observe" : undefined,
  });
  if (typeof fixture === "string") throw new Error(fixture);
  return fixture;
}

const verdict = (...args: Parameters<typeof made>) =>
  (made(...args).expect as { verdict: string }).verdict;

Deno.test("a fixture expects the policy's outcome: an approval chain ran → approve", () => {
  const approvals = [{ who: "cli:x" }] as Receipt["approvals"];
  assertEquals(made({ approvals, verdict: "allow" }).expect, {
    verdict: "approve",
    rule: "no-deletes",
  });
  assertEquals(made({ approvals, verdict: "deny" }).expect, {
    verdict: "approve",
    rule: "no-deletes",
  });
});

Deno.test("a fixture expects allow for an observe-mode rule, the would-be in a dry run", () => {
  // Enforced: the verdict is the outcome.
  equal(verdict({}), "deny");
  // An observe-mode rule that matched first lets the action through when replayed…
  const observed = { mode: "observe", verdict: "allow", wouldBe: "deny" } as const;
  equal(verdict(observed, "enforce", ["no-deletes"]), "allow");
  // …also when the gateway itself is in observe mode (its receipt looks the same).
  equal(verdict(observed, "observe", ["no-deletes"]), "allow");
  // A gateway-wide dry run with the rule in force: replay yields what it would have done.
  equal(verdict(observed, "observe"), "deny");
  // A rule that holds, in a dry run: nobody was asked, the receipt says approval was required.
  equal(verdict({ ...observed, reason: "approval required" }, "observe"), "approve");
  // No rule matched: no_match's verdict.
  assertEquals(made({ rule: null }).expect, { verdict: "deny", rule: null });
});

Deno.test("a fixture moves the facts' unknown list into the case, where clawpatrol test reads it", () => {
  const fixture = made({
    facts: {
      http: { method: "post", path: "/x", body: "xxx", graphql: null },
      unknown: ["http.body", "http.graphql"],
    },
  });
  // A cut body's sample and an unparsed GraphQL's null are no values of those facts.
  assertEquals(fixture.facts, { http: { method: "post", path: "/x" } });
  assertEquals(fixture.unknown, ["http.body", "http.graphql"]);
  const sql = made({ facts: { sql: { verb: "" }, unknown: ["sql.*"] } });
  assertEquals(sql.facts, {});
  equal("unknown" in made({}), false);
});

Deno.test("a fixture keeps the agent and facts as recorded; gateway refusals have none", () => {
  const fixture = made({});
  equal(fixture.endpoint, "api");
  assertEquals(fixture.agent, { name: "bot", profile: "bots" });
  assertEquals(fixture.facts, base.facts);
  equal("agent" in made({ agent: null }), false);
  const options = { gatewayMode: "enforce" } as const;
  match(receiptFixture({ ...base, endpoint: null }, options) as string, /decided without rules/);
  match(receiptFixture({ ...base, facts: {} }, options) as string, /no facts/);
  match(receiptFixture({ ...base, facts: { unknown: ["x"] } }, options) as string, /no facts/);
  const refusal = { ...base, protocol: "gateway" } as Receipt;
  match(receiptFixture(refusal, options) as string, /no facts/);
});

Deno.test("fixturesYaml writes a list clawpatrol test reads, after a comment", async () => {
  const yaml = await fixturesYaml(
    [made({})],
    "Saved from receipt rcpt_01AB\nRun: clawpatrol test F",
  );
  match(yaml, /^# Saved from receipt rcpt_01AB\n# Run: clawpatrol test F\n- name: /);
  assertEquals(parse(yaml)[0].expect, { verdict: "deny", rule: "no-deletes" });
});
