import assert from "node:assert/strict";
import type { Action, ActionGuard, Decided, ExchangeResult, Verdict } from "../core/mod.ts";
import { SessionLedger } from "./session.ts";

const verdict = (decision: "allow" | "deny"): Verdict => ({
  decision,
  wouldBe: decision,
  mode: "enforce",
  rule: null,
  reason: decision,
});

/** A guard whose decisions finish into `outcomes`; summaries starting `held` wait for `release`. */
function guard() {
  const outcomes = new Map<string, ExchangeResult[]>();
  const releases: ((d: "allow" | "deny") => void)[] = [];
  const decided = (id: string, v: Verdict): Decided => ({
    verdict: v,
    receipt: id,
    finish: (r) => outcomes.set(id, [...outcomes.get(id) ?? [], r]),
  });
  const decide = (id: string): Decided => {
    if (id.startsWith("deny")) return decided(id, verdict("deny"));
    if (!id.startsWith("held")) return decided(id, verdict("allow"));
    const held = new Promise<Decided>((resolve) =>
      releases.push((d) => resolve(decided(id, verdict(d))))
    );
    return { verdict: verdict("deny"), receipt: null, finish: () => {}, held };
  };
  const g: Pick<ActionGuard, "decide" | "refuse" | "pass"> = {
    decide: (action: Action) => decide(action.summary),
    refuse: (event) => `refused ${event.reason}`,
    // Passes are told apart by summary like decisions: `deny…` could not be recorded.
    pass: (event) => decide(event.summary),
  };
  return { g, outcomes, release: (d: "allow" | "deny") => releases.shift()!(d) };
}

const action = (summary: string): Action => ({
  protocol: "echo",
  endpoint: "e",
  agent: { name: "bot", profile: "p" },
  facts: {},
  summary,
});
const OK: ExchangeResult = { upstreamStatus: null, bytesIn: 0, bytesOut: 0 };

Deno.test("SessionLedger: close completes what the session left open, once, with why", () => {
  const { g, outcomes } = guard();
  const ledger = new SessionLedger(g);
  const done = ledger.decide(action("a"));
  ledger.decide(action("b"));
  ledger.decide(action("deny-c"));
  assert.equal(ledger.open, 2);
  ledger.complete([done], OK);
  ledger.close("client disconnected");
  ledger.close("again");
  assert.deepEqual(outcomes.get("a"), [OK]);
  assert.deepEqual(outcomes.get("b"), [{ ...OK, error: "client disconnected" }]);
  assert.equal(outcomes.has("deny-c"), false);
  assert.equal(ledger.open, 0);
});

Deno.test("SessionLedger: a held action is tracked by what it settles with", async () => {
  const { g, outcomes, release } = guard();
  const ledger = new SessionLedger(g);
  const before = ledger.decide(action("held-1"));
  release("allow");
  const settled = await before.held!;
  assert.equal(ledger.open, 1);
  ledger.complete([settled], OK);
  assert.deepEqual(outcomes.get("held-1"), [OK]);
  // Settling after the session ended: completed at once, as what it is, never left open.
  const late = ledger.decide(action("held-2"));
  ledger.close("client disconnected");
  release("allow");
  await late.held;
  assert.deepEqual(outcomes.get("held-2"), [{ ...OK, error: "client disconnected" }]);
  // A held action the approver denies leaves nothing to complete.
  const denied = ledger.decide(action("held-3"));
  release("deny");
  await denied.held;
  assert.equal(outcomes.has("held-3"), false);
});

Deno.test("SessionLedger: refusals pass through to the guard", () => {
  const { g } = guard();
  const ledger = new SessionLedger(g);
  const receipt = ledger.refuse({
    protocol: "echo",
    endpoint: null,
    agent: null,
    summary: "s",
    reason: "bad input",
  });
  assert.equal(receipt, "refused bad input");
});

Deno.test("SessionLedger: passed traffic is tracked like an allowed decision", async () => {
  const { g, outcomes, release } = guard();
  const ledger = new SessionLedger(g);
  const event = (summary: string) => ({
    protocol: "https" as const,
    endpoint: null,
    agent: null,
    summary,
    reason: "passthrough",
  });
  const done = ledger.pass(event("p1"));
  ledger.pass(event("p2"));
  ledger.pass(event("deny-p3"));
  // A pass waits for its durable receipt: tracked by what it settles with.
  const waited = ledger.pass(event("held-p4"));
  release("allow");
  await waited.held;
  assert.equal(ledger.open, 3);
  ledger.complete([done], OK);
  ledger.close("agent connection closed");
  assert.deepEqual(outcomes.get("p1"), [OK]);
  assert.deepEqual(outcomes.get("p2"), [{ ...OK, error: "agent connection closed" }]);
  assert.deepEqual(outcomes.get("held-p4"), [{ ...OK, error: "agent connection closed" }]);
  assert.equal(outcomes.has("deny-p3"), false);
  assert.equal(ledger.open, 0);
});
