import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts, ReceiptStore } from "../audit/mod.ts";
import { approvalRequest, type HeldOutcome } from "../approvals/mod.ts";
import { loadConfigText } from "../config/mod.ts";
import { type Action, type Decision, MemoryLogger } from "../core/mod.ts";
import { compilePolicy, completeFacts, type Policy } from "../policy/mod.ts";
import { type ApprovalRunner, AWAITING_APPROVAL } from "./approve.ts";
import { Guard } from "./flow.ts";
import { INTERNAL_ERROR } from "./decide.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";

async function heldPolicy(): Promise<Policy> {
  return compilePolicy(
    await loadConfigText(
      "guard_approval_test.hcl",
      `schema_version = 1
gateway {}
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
approver "human_approver" "ops" {}
rule "github-writes" {
  endpoint  = https.github
  condition = "http.method == 'post'"
  approve   = [human_approver.ops]
  reason    = "writes need a human"
}
`,
      { protocols: PROTOCOLS },
    ),
    { protocols: PROTOCOLS },
  );
}

const POST: Action = {
  protocol: "https",
  endpoint: "github",
  agent: { name: "bot", profile: "default" },
  facts: completeFacts(protocolOf("https")!, {
    http: { method: "post", host: "api.github.com", path: "/repos/acme/api/issues" },
  }),
  summary: "POST /repos/acme/api/issues",
};

/** What the observer saw: one entry per decided action. */
interface Observation {
  decision: Decision;
  decisionMs: number;
  approvalWaitMs: number | null;
}

/**
 * A guard over a fresh store whose clock only moves when the test says so: reading the policy
 * costs 2 ms (the gateway's own work), the approval chain answers when the test settles it.
 */
async function withHeldGuard(
  fn: (ctx: {
    guard: Guard;
    store: ReceiptStore;
    seen: Observation[];
    advance: (ms: number) => void;
    settle: (outcome: Promise<Omit<HeldOutcome, "request">>) => void;
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_guard_approval_" });
  const store = ReceiptStore.open(join(dir, "receipts.db"));
  const policy = await heldPolicy();
  let now = 1_000;
  const seen: Observation[] = [];
  let settle: (outcome: Promise<Omit<HeldOutcome, "request">>) => void = () => {};
  const approvals: ApprovalRunner = {
    run: (action, { rule, reason, facts, signal }) =>
      new Promise<HeldOutcome>((resolve, reject) => {
        const request = approvalRequest(action, rule, reason, facts);
        settle = (outcome) => outcome.then((o) => resolve({ ...o, request }), reject);
        signal.addEventListener("abort", () => {
          settle(Promise.resolve({ decision: "deny", reason: "cancelled", stages: [] }));
        });
      }),
  };
  const guard = new Guard(
    () => {
      now += 2;
      return policy;
    },
    store,
    {
      log: new MemoryLogger(),
      observe: (_protocol, verdict, decisionMs, approvalWaitMs) =>
        seen.push({ decision: verdict.decision, decisionMs, approvalWaitMs }),
      approvals: () => approvals,
      now: () => now,
    },
  );
  try {
    await fn({
      guard,
      store,
      seen,
      advance: (ms) => now += ms,
      settle: (outcome) => settle(outcome),
    });
  } finally {
    await store.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a held action's approval wait is observed apart from its decision time", async () => {
  await withHeldGuard(async ({ guard, store, seen, advance, settle }) => {
    const decided = guard.decide(POST);
    equal(decided.verdict.reason, AWAITING_APPROVAL);
    deepEqual(seen, [], "observed before the approval chain answered");
    advance(90_000); // a human takes a minute and a half
    settle(Promise.resolve({
      decision: "allow",
      reason: "approved",
      stages: [{
        approver: "human_approver.ops",
        decision: "allow",
        who: "cli:tester",
        reason: "ok",
        latencyMs: 90_000,
      }],
    }));
    const final = await decided.held!;
    equal(final.verdict.decision, "allow");
    deepEqual(seen, [{ decision: "allow", decisionMs: 2, approvalWaitMs: 90_000 }]);
    final.finish({ upstreamStatus: 201, bytesIn: 10, bytesOut: 20 });
    await store.flushed();
    // The receipt keeps the action's whole latency: the agent did wait that long.
    equal(queryReceipts(store)[0].latencyMs, 90_002);
  });
});

Deno.test("a denied, failed or cancelled approval is an approval wait too, never decision time", async () => {
  await withHeldGuard(async ({ guard, seen, advance, settle }) => {
    const denied = guard.decide(POST);
    advance(600_000); // human_timeout: the chain answers deny
    settle(Promise.resolve({ decision: "deny", reason: "timed out after 10m", stages: [] }));
    equal((await denied.held!).verdict.decision, "deny");

    const failed = guard.decide(POST);
    advance(3_000);
    settle(Promise.reject(new Error("approver exploded")));
    equal((await failed.held!).verdict.reason, INTERNAL_ERROR);

    const controller = new AbortController();
    const cancelled = guard.decide(POST, { signal: controller.signal });
    advance(45_000);
    controller.abort(new Error("agent went away"));
    equal((await cancelled.held!).verdict.decision, "deny");

    deepEqual(seen, [
      { decision: "deny", decisionMs: 2, approvalWaitMs: 600_000 },
      { decision: "deny", decisionMs: 2, approvalWaitMs: 3_000 },
      { decision: "deny", decisionMs: 2, approvalWaitMs: 45_000 },
    ]);
    ok(seen.every((o) => o.decisionMs < 1_000));
  });
});
