/**
 * Approval chains on HTTPS: curl is held while the chain runs, then gets the upstream's answer
 * or the deny shape; every stage is on the receipt.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { DEFAULT_RULES, type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { eventually } from "./_helpers.ts";
import { curlOutcome, curlPost } from "./_curl.ts";

const held = (approver: string) => `
${approver}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [human_approver.ops]
  reason    = "writes need a human"
}
${DEFAULT_RULES}`;

async function pendingOne(fx: ProxyFixture) {
  return await eventually("a held request in the approval queue", () => {
    const list = fx.gateway.approvalQueue.list();
    return list.length === 1 ? list[0] : undefined;
  });
}

Deno.test("a held POST waits for the operator's approval, then reaches the upstream", async () => {
  await withProxy(
    { rules: held(`approver "human_approver" "ops" {\n  timeout = "30s"\n}`) },
    async (fx) => {
      const curl = curlPost(fx);
      const pending = await pendingOne(fx);
      assertEquals(pending.approver, "human_approver.ops");
      assertEquals(pending.request.rule, "writes-need-approval");
      assertEquals(pending.request.reason, "writes need a human");
      assertEquals(pending.request.summary, "POST api.test/write");
      assertEquals(pending.request.fingerprint.length, 64);
      assertEquals(fx.seen.length, 0, "the upstream saw the request before it was approved");
      assertEquals(
        fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:tester"),
        "decided",
      );
      const result = await curlOutcome(curl);
      assertEquals(result.status, 200, result.body);
      assertEquals(fx.seen.map((r) => r.method), ["POST"]);
      const receipts = await fx.receipts();
      const receipt = receipts.find((r) => r.rule === "writes-need-approval")!;
      assertEquals([receipt.verdict, receipt.reason], ["allow", "approved by cli:tester"]);
      assertEquals(receipt.approvals.map((a) => [a.approver, a.decision, a.who]), [
        ["human_approver.ops", "allow", "cli:tester"],
      ]);
      assertEquals(receipt.upstreamStatus, 200);
      // The wait is exported as its own histogram, beside the decision latency.
      const { port } = fx.gateway.adminAddress;
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert(metrics.includes("# TYPE clawpatrol_decision_seconds histogram"), metrics);
      assert(metrics.includes("# HELP clawpatrol_approval_wait_seconds "), metrics);
      assert(metrics.includes("# TYPE clawpatrol_approval_wait_seconds histogram"), metrics);
      assert(
        metrics.includes(
          'clawpatrol_approval_wait_seconds_count{protocol="https",verdict="allow"} 1',
        ),
        metrics,
      );
    },
  );
});

Deno.test("a held POST denied by the operator gets 403 with the reason; nothing reaches the upstream", async () => {
  await withProxy(
    { rules: held(`approver "human_approver" "ops" {\n  timeout = "30s"\n}`) },
    async (fx) => {
      const curl = curlPost(fx);
      const pending = await pendingOne(fx);
      fx.gateway.approvalQueue.decide(pending.request.id, "deny", "cli:tester", "not today");
      const result = await curlOutcome(curl);
      assertEquals(result.status, 403);
      const body = JSON.parse(result.body);
      assertEquals([body.error, body.reason, body.rule], [
        "denied",
        "not today",
        "writes-need-approval",
      ]);
      assertEquals(fx.seen.length, 0);
      const receipt = (await fx.receipts()).find((r) => r.id === body.receipt)!;
      assertEquals(receipt.approvals[0].who, "cli:tester");
    },
  );
});

Deno.test("a held request times out as a deny naming the stage (human_on_timeout = deny)", async () => {
  await withProxy(
    { rules: held(`approver "human_approver" "ops" {\n  timeout = "300ms"\n}`) },
    async (fx) => {
      const result = await curlOutcome(curlPost(fx));
      assertEquals(result.status, 403);
      assertEquals(
        JSON.parse(result.body).reason,
        "approval stage 'human_approver.ops' timed out after 300 ms",
      );
      assertEquals(fx.gateway.approvalQueue.list(), []);
      const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
      assertEquals(receipt.approvals.map((a) => [a.decision, a.who]), [["deny", "timeout"]]);
    },
  );
});

Deno.test("defaults.human_on_timeout = allow lets a timed-out request through, on the record", async () => {
  await withProxy({
    defaults: `human_on_timeout = "allow"`,
    rules: held(`approver "human_approver" "ops" {\n  timeout = "300ms"\n}`),
  }, async (fx) => {
    const result = await curlOutcome(curlPost(fx));
    assertEquals(result.status, 200, result.body);
    const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
    assertEquals(receipt.verdict, "allow");
    assertEquals(receipt.approvals.map((a) => [a.decision, a.who]), [["allow", "timeout"]]);
  });
});

Deno.test("an agent that disconnects while held cancels its approval", async () => {
  await withProxy(
    { rules: held(`approver "human_approver" "ops" {\n  timeout = "30s"\n}`) },
    async (fx) => {
      const curl = curlPost(fx, { maxSeconds: 1 }); // curl gives up after one second
      await pendingOne(fx);
      await curlOutcome(curl);
      await eventually(
        "the cancelled approval leaving the queue",
        () => fx.gateway.approvalQueue.list().length === 0 || undefined,
      );
      const receipt = await eventually(
        "the cancelled request's receipt",
        async () => (await fx.receipts()).find((r) => r.rule === "writes-need-approval"),
      );
      assertEquals(receipt.verdict, "deny");
      assert(receipt.reason.includes("cancelled: the agent went away"), receipt.reason);
      assertEquals(fx.seen.length, 0);
    },
  );
});
