/**
 * Shared setup for the LLM approver tests: a harness of approver dependencies, a judge's config
 * and a held request to decide.
 *
 * @module
 */

import type { ApprovalRequest, Approver, StageDecision } from "../core/mod.ts";
import { type Approver as ApproverConfig, defaultDefaults } from "../config/mod.ts";
import type { FakeLlm } from "../../tests/_llm_fakes.ts";
import { ApprovalQueue, type ApproverDeps } from "./mod.ts";

/** Distinctive, so any leak of it (or of its start, as OpenAI echoes) is easy to spot. */
export const KEY = "sk-SEKRIT-9f8e7d6c5b4a";

/** Approver dependencies and what they logged. */
export interface Harness {
  deps: ApproverDeps;
  /** Every log line, as JSON. */
  logs: string[];
}

/** Dependencies whose vault holds `judge_key` (unless `secrets` says otherwise). */
export function harness(
  options: { ttlMs?: number; secrets?: Record<string, string>; failMode?: "open" | "closed" } = {},
): Harness {
  const logs: string[] = [];
  const secrets = options.secrets ?? { judge_key: KEY };
  return {
    logs,
    deps: {
      queue: new ApprovalQueue(),
      secret: (name) => Promise.resolve(secrets[name] ?? null),
      fetch,
      log: (level, message, fields) => logs.push(JSON.stringify({ level, message, fields })),
      defaults: {
        ...defaultDefaults(),
        llmCacheTtlMs: options.ttlMs ?? 300_000,
        llmFailMode: options.failMode ?? "closed",
      },
    },
  };
}

/** An `llm_approver "judge"` config pointing at `llm`, with `settings` overriding the defaults. */
export function judgeConfig(
  llm: FakeLlm | { baseUrl: string },
  settings: Record<string, string> = {},
): ApproverConfig {
  return {
    kind: "llm_approver",
    name: "judge",
    timeoutMs: null,
    settings: {
      provider: "openai",
      model: "m",
      base_url: llm.baseUrl,
      credential: "api_key.judge_key",
      policy: "Allow writes to /write; deny anything destructive.",
      ...settings,
    },
    source: { file: "t.hcl", line: 1 },
  };
}

/** A held HTTPS request; `fingerprint` and `body` vary it. */
export function request(fingerprint = "a".repeat(64), body = "payload"): ApprovalRequest {
  return {
    id: `apr_${crypto.randomUUID().slice(0, 8)}`,
    fingerprint,
    protocol: "https",
    endpoint: "api",
    agent: { name: "bot", profile: "bots" },
    rule: "writes-need-approval",
    reason: "writes need review",
    summary: "POST api.test/write",
    facts: {
      http: {
        method: "post",
        scheme: "https",
        host: "api.test",
        port: 443,
        path: "/write",
        raw_path: "/write",
        canonical_path: "/write",
        path_anomalies: [],
        effective_method: "post",
        query: {},
        headers: {},
        body,
        body_json: undefined,
        body_truncated: false,
        graphql: { operation_types: [], operation_name: "", fields: [] },
        placeholders: [],
        misplaced_placeholders: [],
        unknown_placeholders: [],
      },
    },
    createdAt: new Date(),
  };
}

/** A fresh, never-aborted signal. */
export const signal = () => new AbortController().signal;

/** A stage that always allows, standing for a human after the judge. */
export const OPS: Approver = {
  ref: "human_approver.ops",
  kind: "human_approver",
  timeoutMs: 1_000,
  decide: (): Promise<StageDecision> =>
    Promise.resolve({ decision: "allow", who: "cli:ops", reason: "ok" }),
};

/** Chain defaults for runChain(), the fail mode left to each test. */
export const CHAIN_DEFAULTS = { humanTimeoutMs: 1_000, humanOnTimeout: "deny" as const };
