/**
 * The approval chain: stages run in order, every stage must allow, the first that does not ends
 * the chain. A stage that fails, times out or is cancelled is a deny naming the stage (fail
 * closed), except where the config says otherwise (`human_on_timeout`, `llm_fail_mode`).
 *
 * @module
 */

import type {
  ApprovalRequest,
  ApprovalStage,
  Approver,
  Decision,
  StageDecision,
} from "../core/mod.ts";

/** The config's defaults that shape a chain (`defaults { … }`). */
export interface ChainDefaults {
  /** Stage timeout for human approvers without their own. */
  humanTimeoutMs: number;
  /** What a human stage's timeout means. */
  humanOnTimeout: "deny" | "allow";
  /** `open`: an LLM judge that fails or times out passes to the next stage instead of denying. */
  llmFailMode: "closed" | "open";
  /** Stage timeout for LLM and webhook approvers without their own. @default {30_000} */
  machineTimeoutMs?: number;
}

/** How a chain ended. */
export interface ChainResult {
  decision: Decision;
  /** Why, naming the stage that decided (safe to show the agent). */
  reason: string;
  /** Every stage that ran, for the receipt. */
  stages: ApprovalStage[];
}

/**
 * Why a stage ended without an answer; the abort reason a stage's approver (and the queue's
 * `gone` event) sees.
 */
export class StageEnded extends Error {
  constructor(readonly kind: "timeout" | "cancelled", message: string) {
    super(message);
  }
}

/**
 * Runs `approvers` in order for `request`. Never rejects. `signal` aborts the whole chain (the
 * agent disconnected): the running stage is told, and the result is a deny.
 *
 * @example
 * ```ts
 * const result = await runChain([judge, ops], request, signal, defaults);
 * result.decision; // "allow" only when every stage allowed (or passed, with one allowing)
 * ```
 */
export async function runChain(
  approvers: readonly Approver[],
  request: ApprovalRequest,
  signal: AbortSignal,
  defaults: ChainDefaults,
): Promise<ChainResult> {
  const stages: ApprovalStage[] = [];
  let allowedBy: string | null = null;
  for (const approver of approvers) {
    const started = performance.now();
    const answer = await runStage(approver, request, signal, defaults);
    stages.push({
      approver: approver.ref,
      decision: answer.decision,
      who: answer.who,
      reason: answer.reason,
      latencyMs: Math.round(performance.now() - started),
    });
    if (answer.decision === "deny") {
      return { decision: "deny", reason: answer.reason, stages };
    }
    if (answer.decision === "allow") allowedBy ??= approver.ref;
  }
  if (allowedBy === null) {
    // Only deny-only judges ran, and none objected: nobody who may approve did.
    return { decision: "deny", reason: "no approver in the chain may approve alone", stages };
  }
  return { decision: "allow", reason: `approved (${stages.map((s) => s.who).join(", ")})`, stages };
}

/** One stage, with its timeout, cancellation and failure policy applied. */
async function runStage(
  approver: Approver,
  request: ApprovalRequest,
  signal: AbortSignal,
  defaults: ChainDefaults,
): Promise<StageDecision> {
  const human = approver.kind === "human_approver";
  const timeoutMs = approver.timeoutMs ??
    (human ? defaults.humanTimeoutMs : defaults.machineTimeoutMs ?? 30_000);
  const stage = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new StageEnded("timeout", `timed out after ${formatMs(timeoutMs)}`));
    }, timeoutMs);
    const cancel = () => reject(new StageEnded("cancelled", "cancelled: the agent went away"));
    if (signal.aborted) cancel();
    else signal.addEventListener("abort", cancel, { once: true });
  });
  ended.catch((err) => stage.abort(err));
  try {
    const answer = await Promise.race([approver.decide(request, stage.signal), ended]);
    return checked(answer, approver);
  } catch (err) {
    return failed(approver, err, defaults);
  } finally {
    clearTimeout(timer);
    stage.abort();
  }
}

/** An answer outside the contract is ambiguous, and ambiguity denies. */
function checked(answer: StageDecision, approver: Approver): StageDecision {
  const decision = answer?.decision;
  if (decision !== "allow" && decision !== "deny" && decision !== "pass") {
    return {
      decision: "deny",
      who: answer?.who || approver.ref,
      reason: `approval stage '${approver.ref}' gave no clear answer`,
    };
  }
  return {
    decision,
    who: typeof answer.who === "string" && answer.who ? answer.who : approver.ref,
    reason: typeof answer.reason === "string" && answer.reason ? answer.reason : decision,
  };
}

function failed(approver: Approver, err: unknown, defaults: ChainDefaults): StageDecision {
  const what = err instanceof StageEnded ? err.message : `failed: ${describe(err)}`;
  const reason = `approval stage '${approver.ref}' ${what}`;
  const who = err instanceof StageEnded && err.kind === "timeout" ? "timeout" : approver.ref;
  if (err instanceof StageEnded && err.kind === "cancelled") {
    return { decision: "deny", who, reason };
  }
  if (approver.kind === "human_approver" && err instanceof StageEnded) {
    return { decision: defaults.humanOnTimeout, who, reason };
  }
  if (approver.kind === "llm_approver" && defaults.llmFailMode === "open") {
    return { decision: "pass", who, reason: `${reason} (llm_fail_mode = open)` };
  }
  return { decision: "deny", who, reason };
}

function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0].slice(0, 200);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
