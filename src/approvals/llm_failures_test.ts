// A judge that fails: its key never leaks, llm_fail_mode decides the chain, a timeout denies.

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { ALLOW, fakeAnthropic, fakeOpenAi } from "../../tests/_llm_fakes.ts";
import { closedPort } from "../../tests/_helpers.ts";
import { LlmApprover, runChain } from "./mod.ts";
import { CHAIN_DEFAULTS, harness, judgeConfig, KEY, OPS, request, signal } from "./_llm_testing.ts";

Deno.test("the API key never appears in errors or logs", async () => {
  const { deps, logs } = harness();
  const errors: string[] = [];
  const collect = (p: Promise<unknown>) =>
    p.then(() => {}, (err: Error) => errors.push(`${err.name}: ${err.message}\n${err.stack}`));
  // Refused: the fake echoes the start of the key in its message, like OpenAI does.
  await using wrong = fakeOpenAi(() => ALLOW, { apiKey: "sk-expected" });
  await collect(new LlmApprover(judgeConfig(wrong), deps).decide(request(), signal()));
  await using anthropic = fakeAnthropic(() => ALLOW, { apiKey: "sk-expected" });
  await collect(
    new LlmApprover(judgeConfig(anthropic, { provider: "anthropic" }), deps)
      .decide(request(), signal()),
  );
  const down = { baseUrl: `http://127.0.0.1:${closedPort()}/v1` };
  await collect(new LlmApprover(judgeConfig(down), deps).decide(request(), signal()));
  await using ok200 = fakeOpenAi(() => ALLOW);
  await new LlmApprover(judgeConfig(ok200), deps).decide(request("c".repeat(64)), signal());
  const chain = await runChain(
    [new LlmApprover(judgeConfig(wrong), deps)],
    request("d".repeat(64)),
    signal(),
    { ...CHAIN_DEFAULTS, llmFailMode: "closed" },
  );
  equal(errors.length, 3);
  ok(errors[0].includes("HTTP 401 (invalid_api_key)"), errors[0]);
  ok(errors[1].includes("HTTP 401 (authentication_error)"), errors[1]);
  ok(errors[2].includes("cannot reach the openai API"), errors[2]);
  const everything = [...errors, ...logs, JSON.stringify(chain)].join("\n");
  ok(logs.length >= 4);
  ok(!everything.includes("sk-SEK"), "the key (or its start) leaked");
  ok(!everything.includes(KEY));
});

for (
  const [name, makeFake] of [
    ["answers HTTP 500", () => fakeOpenAi(() => new Response("boom", { status: 500 }))],
    ["is unreachable", () => ({ baseUrl: `http://127.0.0.1:${closedPort()}/v1`, close() {} })],
  ] as const
) {
  Deno.test(`a judge that ${name} denies the chain under llm_fail_mode = closed`, async () => {
    const llm = makeFake();
    try {
      const { deps } = harness();
      const judge = new LlmApprover(judgeConfig(llm), deps);
      const result = await runChain([judge, OPS], request(), signal(), {
        ...CHAIN_DEFAULTS,
        llmFailMode: "closed",
      });
      equal(result.decision, "deny");
      ok(result.reason.startsWith("approval stage 'llm_approver.judge' failed: "), result.reason);
      equal(result.stages.map((s) => [s.approver, s.decision]), [["llm_approver.judge", "deny"]]);
    } finally {
      await llm.close();
    }
  });

  Deno.test(`a judge that ${name} passes to the next stage under llm_fail_mode = open`, async () => {
    const llm = makeFake();
    try {
      const { deps } = harness({ failMode: "open" });
      const judge = new LlmApprover(judgeConfig(llm), deps);
      const result = await runChain([judge, OPS], request(), signal(), {
        ...CHAIN_DEFAULTS,
        llmFailMode: "open",
      });
      equal(result.decision, "allow");
      equal(result.stages.map((s) => [s.decision, s.who]), [
        ["pass", "llm_approver.judge"],
        ["allow", "cli:ops"],
      ]);
      ok(/\(llm_fail_mode = open\)$/.test(result.stages[0].reason));
    } finally {
      await llm.close();
    }
  });
}

Deno.test("a judge that does not answer in time is a deny naming the stage", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  await using llm = fakeOpenAi(async () => {
    await gate;
    return ALLOW;
  });
  const { deps, logs } = harness();
  const judge = new LlmApprover({ ...judgeConfig(llm), timeoutMs: 200 }, deps);
  const result = await runChain([judge], request(), signal(), {
    ...CHAIN_DEFAULTS,
    llmFailMode: "closed",
  });
  release();
  equal(result.reason, "approval stage 'llm_approver.judge' timed out after 200 ms");
  await new Promise((r) => setTimeout(r, 50)); // let the aborted call settle
  ok(!logs.some((l) => l.includes("llm judge failed")), "an aborted call is not a failure to log");
});
