/**
 * The approvers of one loaded config, and the entry point the guard calls to run a rule's
 * chain for a held action.
 *
 * @module
 */

import type { Action, ApprovalRequest, Approver, Facts } from "../core/mod.ts";
import type { Approver as ApproverConfig, Config } from "../config/mod.ts";
import { type ChainDefaults, type ChainResult, runChain } from "./chain.ts";
import { HumanApprover } from "./human.ts";
import type { ApprovalQueue } from "./queue.ts";
import { approvalRequest } from "./request.ts";
import { ApprovalReuse, fallbackKey } from "./reuse.ts";
import type { SharedVerdictCache } from "./_llm_cache.ts";

/** What approvers may use: the queue, secrets from the vault, the network. */
export interface ApproverDeps {
  queue: ApprovalQueue;
  /** A vault value (`null`: not set). Never logged. */
  secret(name: string, slot?: string): Promise<string | null>;
  fetch: typeof fetch;
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object): void;
  /** The config's chain defaults (LLM cache TTL, timeouts). */
  defaults: Config["defaults"];
  /** With a shared store: the LLM verdict cache every gateway of it reads. */
  verdicts?: SharedVerdictCache;
}

/** Builds one kind of approver from its config block. */
export type ApproverFactory = (config: ApproverConfig, deps: ApproverDeps) => Approver;

const FACTORIES = new Map<string, ApproverFactory>([
  ["human_approver", (config, deps) => new HumanApprover(config, deps.queue)],
]);

/** Registers the factory for an approver kind (the LLM and webhook modules call this). */
export function registerApprover(kind: ApproverConfig["kind"], factory: ApproverFactory): void {
  FACTORIES.set(kind, factory);
}

/** A held action's chain outcome, with the request approvers saw. */
export interface HeldOutcome extends ChainResult {
  request: ApprovalRequest;
  /**
   * Set when no chain ran because the decision on the same command's other upgrade attempt
   * was reused: how receipts say so (`reused for the SPDY fallback of the same command`).
   */
  reused?: string;
  /**
   * Tell the chain how the allowed exchange ended: an upgrade that went through (101) ran the
   * command, so its approval covers no fallback; any other end arms it for one.
   */
  exchanged?(upgraded: boolean): void;
}

/** What {@linkcode Approvals.prototype.run} holds an action for. */
export interface ApprovalRunOptions {
  /** The rule that held the action. */
  rule: string;
  /** Why the rule holds it, as approvers are told. */
  reason: string;
  /** Approver refs, in order. */
  chain: readonly string[];
  facts: Facts;
  /** Aborts the chain (the agent went away). */
  signal: AbortSignal;
}

/** Approvers of one config; rebuilt on reload (a held request keeps the chain it started with). */
export class Approvals {
  readonly #approvers = new Map<string, Approver>();
  readonly #defaults: ChainDefaults;
  readonly #reuse: ApprovalReuse;

  constructor(
    config: Config,
    deps: Omit<ApproverDeps, "defaults">,
    reuse: ApprovalReuse = new ApprovalReuse(),
  ) {
    this.#reuse = reuse;
    const d = config.defaults;
    this.#defaults = {
      humanTimeoutMs: d.humanTimeoutMs,
      humanOnTimeout: d.humanOnTimeout,
      llmFailMode: d.llmFailMode,
    };
    for (const [ref, approver] of config.approvers) {
      const factory = FACTORIES.get(approver.kind);
      this.#approvers.set(
        ref,
        factory ? factory(approver, { ...deps, defaults: d }) : unavailable(ref, approver),
      );
    }
  }

  /**
   * Runs `options.chain` (approver refs) for `action`, held by `options.rule`. Never rejects: an unknown approver
   * or any failure is a deny naming the stage. The fallback of an upgrade decided moments ago
   * (kubectl's SPDY retry of a WebSocket exec) gets that decision again, once, instead of a
   * second request (see `reuse.ts`).
   */
  async run(
    action: Action,
    { rule, reason, chain, facts, signal }: ApprovalRunOptions,
  ): Promise<HeldOutcome> {
    const request = approvalRequest(action, rule, reason, facts);
    const key = fallbackKey(action, rule, chain);
    const reused = key ? this.#reuse.take(key) : null;
    if (reused) {
      const stages = reused.stages.map((s) => ({
        ...s,
        reason: `${s.reason} (${reused.note}, request ${reused.requestId})`,
        latencyMs: 0,
      }));
      const why = `${reused.reason} (${reused.note})`;
      return { decision: reused.decision, reason: why, stages, request, reused: reused.note };
    }
    const approvers = chain.map((ref) => this.#approvers.get(ref) ?? unavailable(ref, null));
    const result = await runChain(approvers, request, signal, this.#defaults);
    // A cancelled chain (the agent went away) decided nothing an operator said: not reused.
    if (!key || signal.aborted) return { ...result, request };
    const ticket = this.#reuse.remember(key, { ...result, requestId: request.id });
    return {
      ...result,
      request,
      exchanged: (upgraded) => upgraded ? ticket.revoke() : ticket.arm(),
    };
  }
}

/** An approver this build cannot run: its stage denies (fail closed), saying why. */
function unavailable(ref: string, config: ApproverConfig | null): Approver {
  return {
    ref,
    kind: config?.kind ?? "human_approver",
    timeoutMs: config?.timeoutMs ?? null,
    decide: () => Promise.reject(new Error(`approver '${ref}' is not available`)),
  };
}
