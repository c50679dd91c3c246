/**
 * Approval chains: rules with `approve = [...]` hold the action while approvers decide (LLM
 * judge, humans through Slack or the CLI queue, webhooks); every stage must allow.
 *
 * @example
 * ```ts
 * import { ApprovalQueue, Approvals } from "./src/approvals/mod.ts";
 *
 * const queue = new ApprovalQueue();
 * const approvals = new Approvals(config, { queue, secret, fetch, log });
 * const held = await approvals.run(action, {
 *   rule: "github-writes",
 *   reason: "needs a human",
 *   chain: ["human_approver.ops"],
 *   facts,
 *   signal,
 * });
 * ```
 *
 * @module
 */

export {
  type ApprovalRunOptions,
  Approvals,
  type ApproverDeps,
  type ApproverFactory,
  type HeldOutcome,
  registerApprover,
} from "./approvals.ts";
export { type ChainDefaults, type ChainResult, runChain } from "./chain.ts";
export { HumanApprover } from "./human.ts";
export { LlmApprover, type LlmApproverOptions } from "./llm.ts";
export {
  ApprovalQueue,
  type DecideResult,
  type PendingApproval,
  type QueueEvent,
  type WaitOptions,
} from "./queue.ts";
export { approvalRequest, canonicalJson, fingerprint } from "./request.ts";
export {
  ApprovalReuse,
  type ApprovalReuseOptions,
  type FallbackKey,
  fallbackKey,
  REUSE_WINDOW_MS,
  type ReusedDecision,
  type ReuseTicket,
} from "./reuse.ts";
export {
  SLACK_INTERACTIVITY_PATH,
  SlackNotifier,
  type SlackNotifierOptions,
  type SlackRoute,
  slackRoutes,
} from "./slack.ts";
export { handleWebhookCallback, WEBHOOK_CALLBACK_PATH, WebhookApprover } from "./webhook.ts";
