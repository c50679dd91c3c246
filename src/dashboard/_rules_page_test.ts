import { equal, match, ok } from "node:assert/strict";
import type { Mode, Receipt } from "../core/mod.ts";
import type { DashboardOptions, DashboardRule } from "./dashboard.ts";
import { rulesPage, rulesReport } from "./_rules_page.ts";

const NOW = Date.parse("2026-12-05T12:30:00Z");
const session = { name: "alice", csrf: "token-1", expiresAt: NOW + 1000 };

const rule = (name: string, mode: Mode | null): DashboardRule => ({
  name,
  endpoints: ["api"],
  priority: 0,
  mode,
  outcome: "deny",
  file: "gateway.hcl",
  line: 3,
});

function wouldDeny(rule: string, agent: string, at: string): Receipt {
  return {
    id: `rcpt_${agent.toUpperCase()}`,
    time: new Date(at),
    agent,
    endpoint: "api",
    protocol: "https",
    summary: "PUT api.test/<b>x</b>",
    rule,
    mode: "observe",
    verdict: "allow",
    wouldBe: "deny",
    approvals: [],
  } as unknown as Receipt;
}

async function page(gatewayMode: Mode, writes: boolean, rules: DashboardRule[]): Promise<string> {
  const receipts = [
    wouldDeny("trial", "a", "2026-12-05T11:10:00Z"),
    wouldDeny("trial", "b", "2026-12-05T12:10:00Z"),
  ];
  const options = {
    receipts: () => receipts,
    gatewayMode: () => gatewayMode,
    config: {
      rules: () => rules,
      writesEnabled: () => writes,
    },
  } as unknown as DashboardOptions;
  return rulesPage(session, options, await rulesReport(options, NOW), {}, NOW).toString();
}

Deno.test("rules page: an observe rule's would-be denies, agents and examples; promote only with writes", async () => {
  const on = await page("enforce", true, [rule("trial", "observe")]);
  match(on, /class="would-deny-count">2</);
  match(on, /class="agents-count">2</);
  ok(on.includes('href="/ui/receipts/rcpt_A"'));
  // Agent-controlled text is text.
  ok(on.includes("PUT api.test/&lt;b&gt;x&lt;/b&gt;") && !on.includes("<b>x</b>"));
  match(on, /action="\/ui\/rules\/trial\/promote"/);
  match(on, /name="csrf" value="token-1"/);
  // One bar per hour: the two hits in their hours, titled with their counts.
  match(on, /<title>11:00 UTC: 1 allow, 0 deny, 0 held<\/title>/);
  match(on, /<title>12:00 UTC: 1 allow, 0 deny, 0 held<\/title>/);
  equal(on.match(/<title>\d\d:00 UTC/g)?.length, 24);

  const off = await page("enforce", false, [rule("trial", "observe")]);
  ok(!off.includes("/promote"), "no promote form while writes are off");
  match(off, /id="writes-off"/);
});

Deno.test("rules page in a gateway-wide dry run: would-be denies for every rule, nothing to promote", async () => {
  const dry = await page("observe", true, [rule("trial", null)]);
  match(dry, /class="would-deny-count">2</);
  ok(!dry.includes("/promote"), "the rule is in force already: the gateway's mode is the switch");
});
