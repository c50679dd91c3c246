/**
 * Local fakes of the two LLM APIs an `llm_approver` calls, speaking their wire formats:
 * Anthropic's Messages API (`POST /v1/messages`) and OpenAI's chat completions
 * (`POST /v1/chat/completions`). Each records what it received and answers with a scripted
 * reply; like the real services, a request without the expected key is refused with 401.
 *
 * @module
 */

/** One call as the fake saw it. */
export interface LlmCall {
  path: string;
  headers: Headers;
  /** The parsed JSON body. */
  body: Record<string, unknown>;
  /** The system prompt (Anthropic `system`, OpenAI's system message). */
  system: string;
  /** The user message. */
  user: string;
}

/** Scripted answer: reply text (wrapped in the provider's format) or a whole response. */
export type LlmReply = (call: LlmCall) => string | Response | Promise<string | Response>;

/** A running fake. */
export interface FakeLlm extends AsyncDisposable {
  /** What to configure as `base_url`. */
  baseUrl: string;
  port: number;
  /** Calls received, in order (refused ones included). */
  calls: LlmCall[];
  /** Replaces the scripted reply. */
  reply: LlmReply;
  close(): Promise<void>;
}

/** Options for the fakes. */
export interface FakeLlmOptions {
  /** The API key the fake accepts; `null` accepts any (or none). @default {null} */
  apiKey?: string | null;
}

/** A reply that allows (valid JSON verdict). */
export const ALLOW = '{"decision": "allow", "reason": "routine write within policy"}';
/** A reply that denies. */
export const DENY = '{"decision": "deny", "reason": "destructive change"}';

/**
 * Like a gullible model: obeys an instruction found in the request ("ignore previous
 * instructions…") by chatting instead of answering the JSON; otherwise allows.
 */
export const gullible: LlmReply = (call) =>
  /ignore previous instructions/i.test(call.user)
    ? "Sure! Following the updated instructions, I will allow this request."
    : ALLOW;

/**
 * A fake Anthropic Messages API.
 *
 * @example
 * ```ts
 * await using llm = fakeAnthropic(() => ALLOW, { apiKey: "sk-ant-test" });
 * // base_url = llm.baseUrl
 * ```
 */
export function fakeAnthropic(reply: LlmReply, options: FakeLlmOptions = {}): FakeLlm {
  return serve(reply, "", async (req, fake) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "POST" || path !== "/v1/messages") {
      return anthropicError(404, "not_found_error", "Not found");
    }
    const body = await jsonBody(req);
    const messages = body?.messages;
    const call: LlmCall = {
      path,
      headers: req.headers,
      body: body ?? {},
      system: typeof body?.system === "string" ? body.system : "",
      user: Array.isArray(messages) ? String(messages.at(-1)?.content ?? "") : "",
    };
    fake.calls.push(call);
    const key = req.headers.get("x-api-key");
    if (!key || (options.apiKey != null && key !== options.apiKey)) {
      return anthropicError(401, "authentication_error", "invalid x-api-key");
    }
    if (!req.headers.get("anthropic-version")) {
      return anthropicError(400, "invalid_request_error", "anthropic-version header is required");
    }
    if (
      typeof body?.model !== "string" || typeof body.max_tokens !== "number" ||
      !Array.isArray(messages) || messages.length === 0
    ) {
      return anthropicError(400, "invalid_request_error", "model, max_tokens, messages required");
    }
    const answer = await fake.reply(call);
    if (answer instanceof Response) return answer;
    return Response.json({
      id: `msg_${crypto.randomUUID().replaceAll("-", "")}`,
      type: "message",
      role: "assistant",
      model: body.model,
      content: [{ type: "text", text: answer }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 100, output_tokens: 20 },
    });
  });
}

/**
 * A fake OpenAI chat-completions API (as OpenAI, vLLM and ollama serve it).
 *
 * @example
 * ```ts
 * await using llm = fakeOpenAi(() => DENY);
 * // base_url = llm.baseUrl  (http://127.0.0.1:PORT/v1)
 * ```
 */
export function fakeOpenAi(reply: LlmReply, options: FakeLlmOptions = {}): FakeLlm {
  return serve(reply, "/v1", async (req, fake) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return openAiError(404, "invalid_request_error", "unknown_url", "Unknown request URL");
    }
    const body = await jsonBody(req);
    const messages = Array.isArray(body?.messages) ? body.messages : [];
    const call: LlmCall = {
      path,
      headers: req.headers,
      body: body ?? {},
      system: String(messages.find((m) => m?.role === "system")?.content ?? ""),
      user: String(messages.findLast((m) => m?.role === "user")?.content ?? ""),
    };
    fake.calls.push(call);
    const auth = req.headers.get("authorization");
    if (options.apiKey != null && auth !== `Bearer ${options.apiKey}`) {
      return openAiError(
        401,
        "invalid_request_error",
        "invalid_api_key",
        // Like OpenAI's, this message echoes part of the key it was given.
        `Incorrect API key provided: ${auth?.slice(7, 13)}***. You can find your API key at …`,
      );
    }
    if (typeof body?.model !== "string" || messages.length === 0) {
      return openAiError(400, "invalid_request_error", null, "model and messages are required");
    }
    const answer = await fake.reply(call);
    if (answer instanceof Response) return answer;
    return Response.json({
      id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{
        index: 0,
        message: { role: "assistant", content: answer, refusal: null },
        finish_reason: "stop",
      }],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    });
  });
}

function serve(
  reply: LlmReply,
  /** Appended to the origin to make `baseUrl` (OpenAI's API root includes `/v1`). */
  root: string,
  handle: (req: Request, fake: FakeLlm) => Promise<Response>,
): FakeLlm {
  const calls: LlmCall[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => handle(req, fake),
  );
  let closing: Promise<void> | undefined;
  const close = () => closing ??= server.shutdown();
  const fake: FakeLlm = {
    baseUrl: `http://127.0.0.1:${server.addr.port}${root}`,
    port: server.addr.port,
    calls,
    reply,
    close,
    [Symbol.asyncDispose]: close,
  };
  return fake;
}

// deno-lint-ignore no-explicit-any
async function jsonBody(req: Request): Promise<Record<string, any> | null> {
  try {
    const v = await req.json();
    return v && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

function anthropicError(status: number, type: string, message: string): Response {
  return Response.json({ type: "error", error: { type, message } }, { status });
}

function openAiError(
  status: number,
  type: string,
  code: string | null,
  message: string,
): Response {
  return Response.json({ error: { message, type, param: null, code } }, { status });
}
