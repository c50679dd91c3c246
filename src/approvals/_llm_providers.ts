/**
 * The two wire formats an LLM judge speaks: Anthropic's Messages API and OpenAI's chat
 * completions (which vLLM, ollama and other local servers also serve, reached via `base_url`).
 * Each call sends one system and one user message and returns the reply text; any transport or
 * protocol failure rejects, and no error message ever carries the API key.
 *
 * @module
 */

import { concatBytes } from "../core/mod.ts";

/** Providers an `llm_approver` can use (config `provider`). */
export type LlmProvider = "anthropic" | "openai";

/** Default API roots when `base_url` is not set. */
export const DEFAULT_BASE_URLS: Record<LlmProvider, string> = {
  anthropic: "https://api.anthropic.com",
  openai: "https://api.openai.com/v1",
};

/** Enough for `{"decision": …, "reason": "<one sentence>"}`; a rambling model gets cut, and denied. */
export const MAX_OUTPUT_TOKENS = 300;
/** A provider's answer larger than this is not a verdict; stop reading. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** One model call. */
export interface ModelCall {
  provider: LlmProvider;
  model: string;
  /** API root (`base_url`), or the provider's default. */
  baseUrl?: string;
  /** `null`: send no key (a local OpenAI-compatible server). */
  apiKey: string | null;
  system: string;
  user: string;
  fetch: typeof fetch;
  signal: AbortSignal;
}

/**
 * Sends one prompt and returns the model's reply text. Rejects on a network failure, a non-2xx
 * status or a response that is not the provider's format.
 *
 * @example
 * ```ts
 * const text = await callModel({ provider: "openai", model: "m", apiKey, system, user, fetch, signal });
 * ```
 */
export async function callModel(call: ModelCall): Promise<string> {
  const base = (call.baseUrl || DEFAULT_BASE_URLS[call.provider]).replace(/\/+$/, "");
  const request = call.provider === "anthropic" ? anthropic(call, base) : openai(call, base);
  let response: Response;
  try {
    response = await call.fetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: JSON.stringify(request.body),
      signal: call.signal,
      redirect: "error",
    });
  } catch (err) {
    if (call.signal.aborted) throw err;
    throw new Error(
      `cannot reach the ${call.provider} API at ${origin(base)}: ${safe(err, call.apiKey)}`,
    );
  }
  const text = await readCapped(response, call.signal);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const code = errorCode(body);
    throw new Error(
      `the ${call.provider} API answered HTTP ${response.status}${code ? ` (${code})` : ""}`,
    );
  }
  const reply = call.provider === "anthropic" ? anthropicText(body) : openaiText(body);
  if (reply === null) {
    throw new Error(
      `the ${call.provider} API answered a body in an unexpected format`,
    );
  }
  return reply;
}

interface WireRequest {
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** POST /v1/messages (https://docs.anthropic.com/en/api/messages). */
function anthropic(call: ModelCall, base: string): WireRequest {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
  };
  if (call.apiKey !== null) headers["x-api-key"] = call.apiKey;
  return {
    url: `${base}/v1/messages`,
    headers,
    body: {
      model: call.model,
      max_tokens: MAX_OUTPUT_TOKENS,
      temperature: 0,
      system: call.system,
      messages: [{ role: "user", content: call.user }],
    },
  };
}

/** POST /chat/completions (OpenAI's chat completions, as OpenAI-compatible servers serve it). */
function openai(call: ModelCall, base: string): WireRequest {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (call.apiKey !== null) headers.authorization = `Bearer ${call.apiKey}`;
  return {
    url: `${base}/chat/completions`,
    headers,
    body: {
      model: call.model,
      messages: [
        { role: "system", content: call.system },
        { role: "user", content: call.user },
      ],
      temperature: 0,
      max_tokens: MAX_OUTPUT_TOKENS,
    },
  };
}

/** The text blocks of a Messages reply, joined; `null` when the body is not one. */
function anthropicText(body: unknown): string | null {
  const content = (body as { content?: unknown })?.content;
  if (!Array.isArray(content)) return null;
  return content
    .filter((b) => b?.type === "text" && typeof b.text === "string")
    .map((b) => b.text as string)
    .join("");
}

/** The first choice's message content (or its refusal); `null` when the body is not a reply. */
function openaiText(body: unknown): string | null {
  const message = (body as { choices?: { message?: Record<string, unknown> }[] })?.choices?.[0]
    ?.message;
  if (!message || typeof message !== "object") return null;
  if (typeof message.content === "string") return message.content;
  // A refusal is the model's answer, just not a decision: the caller reads it as unclear.
  if (typeof message.refusal === "string") return message.refusal;
  return message.content === null ? "" : null;
}

/**
 * A provider error's machine-readable type or code only. Messages are left out: some echo part
 * of the key ("Incorrect API key provided: sk-abc…xyz").
 */
function errorCode(body: unknown): string | null {
  const error = (body as { error?: { type?: unknown; code?: unknown } })?.error;
  for (const v of [error?.code, error?.type]) {
    if (typeof v === "string" && /^[\w.-]{1,64}$/.test(v)) return v;
  }
  return null;
}

async function readCapped(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_RESPONSE_BYTES) {
        throw new Error(`the LLM API answered more than ${MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (signal.aborted) throw err;
    throw err instanceof Error && err.message.startsWith("the LLM API") ? err : new Error(
      `the LLM API's answer could not be read: ${err instanceof Error ? err.message : err}`,
    );
  }
  return new TextDecoder().decode(concatBytes(chunks));
}

function origin(base: string): string {
  try {
    return new URL(base).origin;
  } catch {
    return "an invalid base_url";
  }
}

/** First line of an error, capped, with the key (should it ever appear) blanked. */
function safe(err: unknown, key: string | null): string {
  let text = (err instanceof Error ? err.message : String(err)).split("\n")[0].slice(0, 200);
  if (key) text = text.replaceAll(key, "[redacted]");
  return text;
}
