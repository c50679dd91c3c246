/**
 * kubectl exec held for approval, and kubectl's transport fallback: it asks for a WebSocket
 * first and, when that upgrade is refused (by an API server before 1.30, or by the gateway's
 * deny), sends the same exec over SPDY/3.1. One command, one approval request: the decision on
 * the WebSocket attempt covers its SPDY fallback, once, and a deny stays a deny.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { kubectlAvailable, withK8sGateway } from "./_k8s_fixture.ts";
import { eventually } from "./_helpers.ts";
import type { PendingApproval } from "../src/approvals/mod.ts";
import type { K8sFixture } from "./_k8s_fixture.ts";

const ignore = !kubectlAvailable;

const RULES = `
approver "human_approver" "ops" {
  timeout = "30s"
}
rule "k8s-exec-needs-approval" {
  endpoint  = kubernetes.cluster
  priority  = 300
  condition = "k8s.verb == 'exec' && k8s.namespace == 'default'"
  approve   = [human_approver.ops]
}`;

function includes(text: string, part: string): void {
  assert(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
}

/** Every request the queue held, in order. */
function held(fx: K8sFixture): PendingApproval[] {
  const all: PendingApproval[] = [];
  fx.gateway.approvalQueue.subscribe((e) => {
    if (e.kind === "held") all.push(e.pending);
  });
  return all;
}

/** The exec upgrades that reached the fake API server: method and Upgrade header. */
function execUpgrades(fx: K8sFixture): string[] {
  return fx.api.requests.filter((r) => r.path.endsWith("/exec"))
    .map((r) => `${r.method} ${r.headers.upgrade?.toLowerCase()}`);
}

Deno.test({
  name: "kubectl exec falling back from a refused WebSocket to SPDY is approved once and runs",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const asked = held(fx);
      const run = fx.kubectl(["exec", "web-1", "-n", "default", "--", "echo", "once"]);
      const pending = await eventually("the exec in the approval queue", () => asked[0]);
      assertEquals(
        fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:ops"),
        "decided",
      );
      const result = await run;
      assertEquals(result.code, 0, result.stderr);
      includes(result.stdout, "once");
      assertEquals(asked.length, 1, "the SPDY fallback asked for a second approval");
      // The approved WebSocket attempt was refused upstream; the same command then ran over SPDY.
      assertEquals(execUpgrades(fx), ["GET websocket", "POST spdy/3.1"]);

      const receipts = (await fx.receipts()).filter((r) => r.rule === "k8s-exec-needs-approval");
      assertEquals(receipts.map((r) => [r.verdict, r.upstreamStatus]), [["allow", 400], [
        "allow",
        101,
      ]]);
      assertEquals(receipts[0].reason, "approved by cli:ops");
      assertEquals(
        receipts[1].reason,
        "approved by cli:ops (reused for the SPDY fallback of the same command)",
      );
      assertEquals(receipts[1].approvals.map((s) => [s.approver, s.decision, s.who]), [[
        "human_approver.ops",
        "allow",
        "cli:ops",
      ]]);
      includes(receipts[1].approvals[0].reason, pending.request.id);
    }, { rules: RULES, api: { exec: "spdy" } }),
});

Deno.test({
  name: "a denied WebSocket exec stays denied on its SPDY fallback without asking again",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const asked = held(fx);
      const run = fx.kubectl(["exec", "web-1", "-n", "default", "--", "echo", "never"]);
      const pending = await eventually("the exec in the approval queue", () => asked[0]);
      fx.gateway.approvalQueue.decide(pending.request.id, "deny", "cli:ops");
      // Were the fallback to ask again, this approval would turn the deny into an allow.
      const again = setInterval(() => {
        for (const p of fx.gateway.approvalQueue.list()) {
          fx.gateway.approvalQueue.decide(p.request.id, "allow", "cli:mallory");
        }
      }, 20);
      try {
        const result = await run;
        assert(result.code !== 0);
        includes(result.stderr, "denied by clawpatrol: denied by cli:ops");
      } finally {
        clearInterval(again);
      }
      assertEquals(asked.length, 1, "the SPDY fallback asked again after a deny");
      assertEquals(execUpgrades(fx), []);
      const receipts = (await fx.receipts()).filter((r) => r.rule === "k8s-exec-needs-approval");
      assertEquals(receipts.map((r) => r.verdict), ["deny", "deny"]);
      assertEquals(
        receipts[1].reason,
        "denied by cli:ops (reused for the SPDY fallback of the same command)",
      );
      assertEquals(receipts[1].approvals.map((s) => s.who), ["cli:ops"]);
    }, { rules: RULES }),
});
