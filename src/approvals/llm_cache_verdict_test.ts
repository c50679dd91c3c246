// The LLM approver's verdict cache: one model call per fingerprint and judge, for llm_cache_ttl.

import { deepStrictEqual as equal, rejects } from "node:assert/strict";
import { ALLOW, DENY, fakeOpenAi } from "../../tests/_llm_fakes.ts";
import { LlmApprover } from "./mod.ts";
import { harness, judgeConfig, request, signal } from "./_llm_testing.ts";

Deno.test("decide() answers two identical requests with one model call", async () => {
  await using llm = fakeOpenAi(() => DENY);
  const { deps } = harness();
  const judge = new LlmApprover(judgeConfig(llm), deps);
  const first = await judge.decide(request(), signal());
  const second = await judge.decide(request(), signal());
  equal(llm.calls.length, 1);
  equal(first.reason, "destructive change");
  equal(second, { decision: "deny", who: "llm:m", reason: "destructive change (cached verdict)" });
});

Deno.test("decide() asks the model again for a different fingerprint", async () => {
  await using llm = fakeOpenAi(() => ALLOW);
  const { deps } = harness();
  const judge = new LlmApprover(judgeConfig(llm), deps);
  await judge.decide(request("1".repeat(64)), signal());
  await judge.decide(request("2".repeat(64)), signal());
  equal(llm.calls.length, 2);
});

Deno.test("decide() with llm_cache_ttl = 0 asks the model every time", async () => {
  await using llm = fakeOpenAi(() => ALLOW);
  const { deps } = harness({ ttlMs: 0 });
  const judge = new LlmApprover(judgeConfig(llm), deps);
  await judge.decide(request(), signal());
  await judge.decide(request(), signal());
  equal(llm.calls.length, 2);
});

Deno.test("decide() asks again once the cached verdict expires", async () => {
  await using llm = fakeOpenAi(() => ALLOW);
  const { deps } = harness({ ttlMs: 1_000 });
  let now = 0;
  const judge = new LlmApprover(judgeConfig(llm), deps, { now: () => now });
  await judge.decide(request(), signal());
  now = 999;
  await judge.decide(request(), signal());
  equal(llm.calls.length, 1);
  now = 1_000;
  await judge.decide(request(), signal());
  equal(llm.calls.length, 2);
});

Deno.test("decide() caches per approver: another judge asks its own model", async () => {
  await using llm = fakeOpenAi(() => ALLOW);
  const { deps } = harness();
  const a = new LlmApprover(judgeConfig(llm), deps);
  const b = new LlmApprover({ ...judgeConfig(llm), name: "strict" }, deps);
  await a.decide(request(), signal());
  await b.decide(request(), signal());
  equal(llm.calls.length, 2);
});

Deno.test("decide() does not cache a failure: the next identical request reaches the model", async () => {
  let fail = true;
  await using llm = fakeOpenAi(() => fail ? new Response("down", { status: 500 }) : ALLOW);
  const { deps } = harness();
  const judge = new LlmApprover(judgeConfig(llm), deps);
  await rejects(judge.decide(request(), signal()), /HTTP 500/);
  fail = false;
  equal((await judge.decide(request(), signal())).decision, "allow");
  equal(llm.calls.length, 2);
});
