/**
 * `llm_approver`: a model judges the held request against the operator's prose `policy`.
 *
 * The request is untrusted, so it reaches the model fenced as data (see `_llm_prompt.ts`), and
 * only a reply that is exactly `{"decision", "reason"}` decides: anything else denies. A failure
 * (no key, provider down, HTTP error) rejects, and the chain applies `llm_fail_mode`. With
 * `role = "deny_only"` the judge can only deny or pass the request on to the next stage.
 *
 * @module
 */

import type { ApprovalRequest, Approver, StageDecision } from "../core/mod.ts";
import type { Approver as ApproverConfig } from "../config/mod.ts";
import { type ApproverDeps, registerApprover } from "./approvals.ts";
import { sharedVerdictKey, VerdictCache } from "./_llm_cache.ts";
import { buildPrompt, type LlmVerdict, parseVerdict, UNCLEAR_ANSWER } from "./_llm_prompt.ts";
import { callModel, type LlmProvider } from "./_llm_providers.ts";

/** Options for {@linkcode LlmApprover}. */
export interface LlmApproverOptions {
  /** Most cached verdicts. @default {1000} */
  cacheEntries?: number;
  /** Clock for the cache, for tests. @default {Date.now} */
  now?: () => number;
}

/**
 * An LLM judge stage, built from an `approver "llm_approver" NAME { … }` block.
 *
 * @example
 * ```ts
 * const judge = new LlmApprover(config.approvers.get("llm_approver.judge")!, deps);
 * await judge.decide(request, signal); // { decision: "deny", who: "llm:claude-…", reason: "…" }
 * ```
 */
export class LlmApprover implements Approver {
  readonly ref: string;
  readonly kind = "llm_approver" as const;
  readonly timeoutMs: number | null;
  readonly #provider: LlmProvider;
  readonly #model: string;
  readonly #policy: string | undefined;
  readonly #baseUrl: string | undefined;
  readonly #denyOnly: boolean;
  /** `kind.name` of the API key credential, and the vault name its value is stored under. */
  readonly #credential: { ref: string; name: string } | null;
  readonly #deps: ApproverDeps;
  readonly #cache: VerdictCache;

  constructor(config: ApproverConfig, deps: ApproverDeps, options: LlmApproverOptions = {}) {
    const s = config.settings;
    this.ref = `${config.kind}.${config.name}`;
    this.timeoutMs = config.timeoutMs;
    this.#provider = s.provider === "anthropic" ? "anthropic" : "openai";
    this.#model = String(s.model ?? "");
    this.#policy = typeof s.policy === "string" ? s.policy : undefined;
    this.#baseUrl = typeof s.base_url === "string" && s.base_url ? s.base_url : undefined;
    this.#denyOnly = s.role === "deny_only";
    const ref = typeof s.credential === "string" ? s.credential : null;
    this.#credential = ref ? { ref, name: ref.slice(ref.indexOf(".") + 1) } : null;
    this.#deps = deps;
    this.#cache = new VerdictCache({
      ttlMs: deps.defaults.llmCacheTtlMs,
      maxEntries: options.cacheEntries,
      now: options.now,
    });
  }

  /** `llm:<model>`, as receipts record the stage. */
  get who(): string {
    return `llm:${this.#model}`;
  }

  async decide(request: ApprovalRequest, signal: AbortSignal): Promise<StageDecision> {
    // The cache lives in this instance, so it is per approver (and a reload starts afresh).
    const cached = this.#cache.get(request.fingerprint) ?? await this.#sharedVerdict(request);
    if (cached) {
      this.#log("info", "llm judge verdict from cache", request, { decision: cached.decision });
      return this.#answer(cached, true);
    }
    const started = performance.now();
    let reply: string;
    let nonce: string;
    try {
      if (this.#baseUrl && !/^https?:\/\/[^\s/]+/i.test(this.#baseUrl)) {
        throw new Error(`'base_url' must be an http(s) URL, got "${this.#baseUrl}"`);
      }
      const apiKey = await this.#apiKey();
      const prompt = buildPrompt(request, this.#policy);
      nonce = prompt.nonce;
      reply = await callModel({
        provider: this.#provider,
        model: this.#model,
        baseUrl: this.#baseUrl,
        apiKey,
        system: prompt.system,
        user: prompt.user,
        fetch: this.#deps.fetch,
        signal,
      });
    } catch (err) {
      if (!signal.aborted) {
        this.#log("warn", "llm judge failed", request, {
          error: err instanceof Error ? err.message : String(err),
        });
      }
      throw err;
    }
    const latencyMs = Math.round(performance.now() - started);
    const verdict = parseVerdict(reply, nonce);
    if (!verdict) {
      // Ambiguity denies, and is asked afresh next time: it is not a verdict to remember.
      this.#log("warn", UNCLEAR_ANSWER, request, { latencyMs, reply: reply.slice(0, 200) });
      return { decision: "deny", who: this.who, reason: UNCLEAR_ANSWER };
    }
    this.#cache.set(request.fingerprint, verdict);
    const shared = this.#deps.verdicts;
    const ttlMs = this.#deps.defaults.llmCacheTtlMs;
    if (shared && ttlMs > 0) {
      // Not awaited: the agent does not wait for the store (which logs its own failures).
      this.#sharedKey(request).then((key) => shared.set(key, verdict, ttlMs)).catch(() => {});
    }
    this.#log("info", "llm judge decided", request, { decision: verdict.decision, latencyMs });
    return this.#answer(verdict, false);
  }

  /** The store's verdict (another gateway's judge gave it); none when the store fails. */
  async #sharedVerdict(request: ApprovalRequest): Promise<LlmVerdict | undefined> {
    const shared = this.#deps.verdicts;
    const ttlMs = this.#deps.defaults.llmCacheTtlMs;
    if (!shared || ttlMs <= 0) return undefined;
    try {
      return await shared.get(await this.#sharedKey(request), ttlMs);
    } catch {
      // Fail closed is "ask the model", never "allow": the store logged why, once.
      return undefined;
    }
  }

  #sharedKey(request: ApprovalRequest): Promise<string> {
    const judge = [this.ref, this.#provider, this.#model, this.#baseUrl, this.#policy];
    return sharedVerdictKey(judge, request.fingerprint);
  }

  #answer(verdict: LlmVerdict, cached: boolean): StageDecision {
    const reason = cached ? `${verdict.reason} (cached verdict)` : verdict.reason;
    // A deny-only judge's allow is "no objection": it never approves on its own.
    const decision = verdict.decision === "allow" && this.#denyOnly ? "pass" : verdict.decision;
    return { decision, who: this.who, reason };
  }

  /** The API key from the vault; messages name the credential, never its value. */
  async #apiKey(): Promise<string | null> {
    if (!this.#credential) {
      if (this.#baseUrl) return null; // a local OpenAI-compatible server may need no key
      throw new Error(`'credential' is required to call the hosted ${this.#provider} API`);
    }
    const { ref, name } = this.#credential;
    const value = await this.#deps.secret(name);
    if (value === null || value.trim() === "") {
      throw new Error(
        `credential '${ref}' has no value in the vault (clawpatrol vault set ${name})`,
      );
    }
    const key = value.trim();
    if (!/^[\x21-\x7e]+$/.test(key)) {
      throw new Error(`credential '${ref}' holds a value that cannot be sent as an API key`);
    }
    return key;
  }

  #log(
    level: "info" | "warn",
    message: string,
    request: ApprovalRequest,
    fields: Record<string, unknown>,
  ): void {
    this.#deps.log(level, message, {
      approver: this.ref,
      model: this.#model,
      approval: request.id,
      fingerprint: request.fingerprint,
      ...fields,
    });
  }
}

registerApprover("llm_approver", (config, deps) => new LlmApprover(config, deps));
