import { deepStrictEqual as equal, ok, rejects } from "node:assert/strict";
import { ALLOW, fakeAnthropic, fakeOpenAi } from "../../tests/_llm_fakes.ts";
import { closedPort } from "../../tests/_helpers.ts";
import { callModel, MAX_OUTPUT_TOKENS, type ModelCall } from "./_llm_providers.ts";

const KEY = "sk-test-0123456789abcdef";

function call(overrides: Partial<ModelCall>): ModelCall {
  return {
    provider: "openai",
    model: "m",
    apiKey: KEY,
    system: "SYSTEM PROMPT",
    user: "USER PROMPT",
    fetch,
    signal: new AbortController().signal,
    ...overrides,
  };
}

Deno.test("callModel() speaks Anthropic's Messages API and returns the text blocks", async () => {
  await using llm = fakeAnthropic(() => ALLOW, { apiKey: KEY });
  const text = await callModel(call({ provider: "anthropic", baseUrl: llm.baseUrl }));
  equal(text, ALLOW);
  equal(llm.calls.length, 1);
  const seen = llm.calls[0];
  equal(seen.path, "/v1/messages");
  equal(seen.headers.get("x-api-key"), KEY);
  equal(seen.headers.get("anthropic-version"), "2023-06-01");
  equal(seen.headers.get("authorization"), null);
  equal(seen.body, {
    model: "m",
    max_tokens: MAX_OUTPUT_TOKENS,
    temperature: 0,
    system: "SYSTEM PROMPT",
    messages: [{ role: "user", content: "USER PROMPT" }],
  });
});

Deno.test("callModel() joins Anthropic text blocks and skips other block types", async () => {
  await using llm = fakeAnthropic(() =>
    Response.json({
      type: "message",
      content: [
        { type: "thinking", thinking: "hmm" },
        { type: "text", text: '{"decision": "deny",' },
        { type: "text", text: ' "reason": "x"}' },
      ],
    })
  );
  const text = await callModel(call({ provider: "anthropic", baseUrl: `${llm.baseUrl}/` }));
  equal(text, '{"decision": "deny", "reason": "x"}');
});

Deno.test("callModel() speaks OpenAI chat completions and returns the first choice", async () => {
  await using llm = fakeOpenAi(() => ALLOW, { apiKey: KEY });
  const text = await callModel(call({ baseUrl: llm.baseUrl }));
  equal(text, ALLOW);
  const seen = llm.calls[0];
  equal(seen.path, "/v1/chat/completions");
  equal(seen.headers.get("authorization"), `Bearer ${KEY}`);
  equal(seen.headers.get("x-api-key"), null);
  equal(seen.body, {
    model: "m",
    messages: [
      { role: "system", content: "SYSTEM PROMPT" },
      { role: "user", content: "USER PROMPT" },
    ],
    temperature: 0,
    max_tokens: MAX_OUTPUT_TOKENS,
  });
});

Deno.test("callModel() sends no key to a local OpenAI-compatible server when there is none", async () => {
  await using llm = fakeOpenAi(() => ALLOW);
  equal(await callModel(call({ baseUrl: llm.baseUrl, apiKey: null })), ALLOW);
  equal(llm.calls[0].headers.get("authorization"), null);
});

Deno.test("callModel() reads an OpenAI refusal as the reply text", async () => {
  await using llm = fakeOpenAi(() =>
    Response.json({
      choices: [{ message: { role: "assistant", content: null, refusal: "I can't help" } }],
    })
  );
  equal(await callModel(call({ baseUrl: llm.baseUrl })), "I can't help");
});

Deno.test("callModel() rejects an HTTP error with its status and code, never the key or message", async () => {
  await using llm = fakeOpenAi(() => ALLOW, { apiKey: "sk-other-key" });
  await rejects(callModel(call({ baseUrl: llm.baseUrl })), (err: Error) => {
    equal(err.message, "the openai API answered HTTP 401 (invalid_api_key)");
    // The fake's message echoes the start of the key, as OpenAI's does.
    ok(!err.message.includes(KEY.slice(0, 6)));
    return true;
  });
});

Deno.test("callModel() rejects a 500 from either provider", async () => {
  const boom = () => new Response("upstream exploded", { status: 500 });
  await using a = fakeAnthropic(boom);
  await using o = fakeOpenAi(boom);
  await rejects(
    callModel(call({ provider: "anthropic", baseUrl: a.baseUrl })),
    /^Error: the anthropic API answered HTTP 500$/,
  );
  await rejects(callModel(call({ baseUrl: o.baseUrl })), /the openai API answered HTTP 500$/);
});

Deno.test("callModel() rejects a 200 that is not the provider's reply shape", async () => {
  await using a = fakeAnthropic(() => Response.json({ completion: "allow" }));
  await using o = fakeOpenAi(() => new Response("<html>proxy login</html>"));
  await rejects(
    callModel(call({ provider: "anthropic", baseUrl: a.baseUrl })),
    /the anthropic API answered a body in an unexpected format/,
  );
  await rejects(
    callModel(call({ baseUrl: o.baseUrl })),
    /the openai API answered a body in an unexpected format/,
  );
});

Deno.test("callModel() rejects when nothing listens, naming the origin", async () => {
  const port = closedPort();
  await rejects(
    callModel(call({ baseUrl: `http://127.0.0.1:${port}/v1` })),
    (err: Error) => {
      ok(err.message.startsWith(`cannot reach the openai API at http://127.0.0.1:${port}:`));
      ok(!err.message.includes(KEY));
      return true;
    },
  );
});

Deno.test("callModel() stops reading an oversized answer", async () => {
  await using llm = fakeOpenAi(() => new Response("x".repeat(2 * 1024 * 1024)));
  await rejects(callModel(call({ baseUrl: llm.baseUrl })), /answered more than 1048576 bytes/);
});

Deno.test("callModel() aborts with the stage's signal", async () => {
  const stage = new AbortController();
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  await using llm = fakeOpenAi(async () => {
    stage.abort();
    await gate;
    return ALLOW;
  });
  await rejects(callModel(call({ baseUrl: llm.baseUrl, signal: stage.signal })), (err: Error) => {
    equal(err.name, "AbortError");
    return true;
  });
  release();
});
