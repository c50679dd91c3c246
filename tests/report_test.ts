// `clawpatrol report`: figures checked against a store with known counts.
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { ReceiptStore } from "../src/audit/mod.ts";
import type { ApprovalStage, ReceiptInput } from "../src/core/mod.ts";
import { cli, withTempDir } from "./_helpers.ts";

function receipt(overrides: Partial<ReceiptInput>): ReceiptInput {
  return {
    time: new Date(),
    agent: "bot",
    profile: "bots",
    endpoint: "api",
    protocol: "https",
    summary: "GET api.test/x",
    facts: {},
    rule: null,
    mode: "enforce",
    verdict: "allow",
    wouldBe: "allow",
    reason: "allowed",
    approvals: [],
    upstreamStatus: null,
    bytesIn: 0,
    bytesOut: 0,
    latencyMs: 1,
    ...overrides,
  };
}

function stage(who: string, decision: "allow" | "deny", latencyMs: number): ApprovalStage {
  return { approver: "human_approver.ops", decision, who, reason: "", latencyMs };
}

async function knownStore(path: string): Promise<void> {
  const store = ReceiptStore.open(path, { protocols: ["https", "dns", "gateway"] });
  for (let i = 0; i < 3; i++) store.record(receipt({ rule: "reads" }));
  store.record(receipt({ rule: "no-deletes", verdict: "deny", wouldBe: "deny" }));
  store.record(receipt({ rule: "no-deletes", verdict: "deny", wouldBe: "deny", agent: "other" }));
  store.record(receipt({ rule: "writes-held", approvals: [stage("cli:ops", "allow", 300)] }));
  store.record(receipt({
    rule: "writes-held",
    verdict: "deny",
    wouldBe: "deny",
    approvals: [stage("timeout", "deny", 1000)],
  }));
  for (const agent of ["bot", "bot", "other"]) {
    store.record(
      receipt({
        rule: "no-puts",
        mode: "observe",
        wouldBe: "deny",
        agent,
        summary: "PUT api.test/x",
      }),
    );
  }
  for (let i = 0; i < 2; i++) {
    store.record(receipt({
      endpoint: null,
      verdict: "deny",
      wouldBe: "deny",
      summary: "CONNECT evil.test:443",
      reason: "no endpoint claims host 'evil.test' (defaults.unknown_host = deny)",
    }));
  }
  store.record(receipt({
    endpoint: null,
    agent: null,
    protocol: "dns",
    verdict: "deny",
    wouldBe: "deny",
    summary: "DNS exfil.test from 10.77.0.1",
    reason: "no endpoint claims this name",
  }));
  await store.close();
}

Deno.test("report: rule hits, promotion candidates, approvals, denies and unknown hosts", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "receipts.db");
    await knownStore(path);
    const json = await cli(["report", "--receipts", path, "--json"]);
    equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    equal(report.receipts, 13);
    deepEqual(report.rules, [
      { rule: "no-deletes", mode: "enforce", allow: 0, deny: 2, held: 0 },
      { rule: "no-puts", mode: "observe", allow: 3, deny: 0, held: 0 },
      { rule: "reads", mode: "enforce", allow: 3, deny: 0, held: 0 },
      { rule: "writes-held", mode: "enforce", allow: 0, deny: 0, held: 2 },
    ]);
    equal(report.candidates.length, 1);
    equal(report.candidates[0].rule, "no-puts");
    equal(report.candidates[0].wouldDeny, 3);
    equal(report.candidates[0].agents, 2);
    equal(report.candidates[0].examples.length, 3);
    deepEqual(report.approvals, {
      count: 2,
      approved: 1,
      denied: 1,
      medianMs: 300,
      p95Ms: 1000,
      timedOut: { allow: 0, deny: 1 },
    });
    deepEqual(report.deniesByAgent, { bot: 4, other: 1, "(unauthenticated)": 1 });
    deepEqual(report.deniesByEndpoint, { api: 3, "(no endpoint)": 3 });
    deepEqual(report.unknownHosts, [
      { host: "evil.test", attempts: 2 },
      { host: "exfil.test", attempts: 1 },
    ]);

    const text = await cli(["report", "--receipts", path]);
    equal(text.code, 0, text.stderr);
    match(text.stdout, /no-puts: would have denied 3 actions of 2 agents/);
    match(
      text.stdout,
      /Approvals: 2 \(1 approved, 1 denied\); time to decision median 300 ms, p95 1\.0 s; timed out 1 \(then allowed 0, denied 1\)/,
    );
    const later = await cli(["report", "--receipts", path, "--since", "2999-01-01T00:00:00Z"]);
    match(later.stdout, /^0 receipts$/m);
  });
});
