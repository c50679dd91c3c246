import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { ApprovalRequest, Approver, StageDecision } from "../core/mod.ts";
import { type ChainDefaults, runChain, StageEnded } from "./chain.ts";

const REQUEST: ApprovalRequest = {
  id: "apr_1",
  fingerprint: "f".repeat(64),
  protocol: "https",
  endpoint: "github",
  agent: { name: "bot", profile: "default" },
  rule: "writes",
  reason: "writes need approval",
  summary: "POST /repos/acme/api/issues",
  facts: {},
  createdAt: new Date(0),
};

const DEFAULTS: ChainDefaults = {
  humanTimeoutMs: 10_000,
  humanOnTimeout: "deny",
  llmFailMode: "closed",
  machineTimeoutMs: 10_000,
};

function approver(
  ref: string,
  answer: (signal: AbortSignal) => Promise<StageDecision>,
  timeoutMs: number | null = null,
): Approver & { calls: number; signals: AbortSignal[] } {
  const a = {
    ref,
    kind: ref.split(".")[0] as Approver["kind"],
    timeoutMs,
    calls: 0,
    signals: [] as AbortSignal[],
    decide(_r: ApprovalRequest, signal: AbortSignal) {
      a.calls++;
      a.signals.push(signal);
      return answer(signal);
    },
  };
  return a;
}

const says = (decision: StageDecision["decision"], who: string) => () =>
  Promise.resolve({ decision, who, reason: `${who} says ${decision}` });
const never = (signal: AbortSignal) =>
  new Promise<StageDecision>((_, reject) =>
    signal.addEventListener("abort", () => reject(signal.reason))
  );
const live = () => new AbortController().signal;

Deno.test("runChain() allows only when every stage allows, recording each stage", async () => {
  const r = await runChain(
    [
      approver("llm_approver.judge", says("allow", "llm:m")),
      approver("human_approver.ops", says("allow", "cli:ann")),
    ],
    REQUEST,
    live(),
    DEFAULTS,
  );
  assertEquals(r.decision, "allow");
  assertEquals(r.stages.map((s) => [s.approver, s.decision, s.who]), [
    ["llm_approver.judge", "allow", "llm:m"],
    ["human_approver.ops", "allow", "cli:ann"],
  ]);
});

Deno.test("runChain() stops at the first deny; later stages never run", async () => {
  const later = approver("human_approver.ops", says("allow", "cli:ann"));
  const r = await runChain(
    [approver("llm_approver.judge", says("deny", "llm:m")), later],
    REQUEST,
    live(),
    DEFAULTS,
  );
  assertEquals([r.decision, r.reason], ["deny", "llm:m says deny"]);
  assertEquals(later.calls, 0);
});

Deno.test("runChain() turns a failing stage into a deny naming it", async () => {
  const r = await runChain(
    [approver("webhook_approver.hook", () => Promise.reject(new Error("HTTP 500\nstack")))],
    REQUEST,
    live(),
    DEFAULTS,
  );
  assertEquals([r.decision, r.reason], [
    "deny",
    "approval stage 'webhook_approver.hook' failed: HTTP 500",
  ]);
});

Deno.test("runChain() denies an ambiguous answer", async () => {
  const r = await runChain(
    [approver(
      "webhook_approver.hook",
      () => Promise.resolve({ decision: "maybe" } as unknown as StageDecision),
    )],
    REQUEST,
    live(),
    DEFAULTS,
  );
  assertEquals([r.decision, r.reason], [
    "deny",
    "approval stage 'webhook_approver.hook' gave no clear answer",
  ]);
});

Deno.test("runChain() times a stage out, aborting its work, per human_on_timeout", async () => {
  const slow = approver("human_approver.ops", never, 30);
  const denied = await runChain([slow], REQUEST, live(), DEFAULTS);
  assertEquals([denied.decision, denied.stages[0].who], ["deny", "timeout"]);
  assertEquals(denied.reason, "approval stage 'human_approver.ops' timed out after 30 ms");
  assert(slow.signals[0].aborted, "the timed-out stage was not told to stop");
  const allowed = await runChain([approver("human_approver.ops", never, 30)], REQUEST, live(), {
    ...DEFAULTS,
    humanOnTimeout: "allow",
  });
  assertEquals(allowed.decision, "allow");
});

Deno.test("runChain() lets a failing LLM judge pass only under llm_fail_mode = open", async () => {
  const failing = () => approver("llm_approver.judge", () => Promise.reject(new Error("down")));
  const ops = () => approver("human_approver.ops", says("allow", "cli:ann"));
  const closed = await runChain([failing(), ops()], REQUEST, live(), DEFAULTS);
  assertEquals(closed.decision, "deny");
  const open = await runChain([failing(), ops()], REQUEST, live(), {
    ...DEFAULTS,
    llmFailMode: "open",
  });
  assertEquals(open.decision, "allow");
  assertEquals(open.stages[0].decision, "pass");
});

Deno.test("runChain() never allows on passes alone (a deny-only judge cannot approve)", async () => {
  const r = await runChain(
    [approver("llm_approver.judge", says("pass", "llm:m"))],
    REQUEST,
    live(),
    DEFAULTS,
  );
  assertEquals([r.decision, r.reason], ["deny", "no approver in the chain may approve alone"]);
});

Deno.test("runChain() cancelled by the caller denies and tells the running stage", async () => {
  const gone = new AbortController();
  const waiting = approver("human_approver.ops", never);
  const result = runChain([waiting], REQUEST, gone.signal, DEFAULTS);
  await new Promise((r) => setTimeout(r, 10));
  gone.abort(new Error("agent went away"));
  const r = await result;
  assertEquals(r.decision, "deny");
  assert(r.reason.includes("cancelled: the agent went away"));
  assert(waiting.signals[0].aborted);
});

Deno.test("runChain() tells the stage why it ended: timeout or cancelled", async () => {
  const slow = approver("human_approver.ops", never, 20);
  await runChain([slow], REQUEST, live(), DEFAULTS);
  const reason = slow.signals[0].reason;
  assert(reason instanceof StageEnded);
  assertEquals(reason.kind, "timeout");
  const gone = new AbortController();
  const waiting = approver("human_approver.ops", never);
  const result = runChain([waiting], REQUEST, gone.signal, DEFAULTS);
  await new Promise((r) => setTimeout(r, 5));
  gone.abort();
  await result;
  assertEquals((waiting.signals[0].reason as StageEnded).kind, "cancelled");
});
