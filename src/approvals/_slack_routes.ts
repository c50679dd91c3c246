/**
 * Which `human_approver` blocks post to Slack, read from the config.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";

/** One `human_approver` that posts to Slack. */
export interface SlackRoute {
  /** `human_approver.NAME`, as the queue names it. */
  approver: string;
  /** `slack_channel`: a channel id (`C…`) or `#name`. */
  channel: string;
  /** Vault name of its `slack_tokens` credential. */
  credential: string;
  /** Slack user ids allowed to decide; empty: anyone in the channel. */
  approvers: string[];
  /** The stage's timeout and what it means, to tell a timeout from a cancellation. */
  timeoutMs: number;
  onTimeout: "allow" | "deny";
}

/**
 * The Slack routes of a config, with warnings: why a `human_approver` that mentions Slack gets
 * no route, and which routes let anyone in the channel decide.
 *
 * @example
 * ```ts
 * const { routes, warnings } = slackRoutes(config);
 * ```
 */
export function slackRoutes(config: Config): { routes: SlackRoute[]; warnings: string[] } {
  const routes: SlackRoute[] = [];
  const warnings: string[] = [];
  for (const [ref, approver] of config.approvers) {
    if (approver.kind !== "human_approver") continue;
    const channel = approver.settings.slack_channel;
    const credential = approver.settings.credential;
    if (typeof channel !== "string" || channel === "") {
      if (typeof credential === "string") {
        warnings.push(`approver '${ref}' has a credential but no slack_channel: not using Slack`);
      }
      continue;
    }
    if (typeof credential !== "string" || !credential.startsWith("slack_tokens.")) {
      warnings.push(
        `approver '${ref}' has slack_channel but no 'credential = slack_tokens.NAME': ` +
          "not posting to Slack (the CLI queue still works)",
      );
      continue;
    }
    const who = approver.settings.approvers;
    if (!Array.isArray(who) || who.length === 0) {
      warnings.push(
        `approver '${ref}' has no 'approvers' list: anyone who can click in ${channel} may decide`,
      );
    }
    routes.push({
      approver: ref,
      channel,
      credential: credential.slice("slack_tokens.".length),
      approvers: Array.isArray(who) ? [...who] : [],
      timeoutMs: approver.timeoutMs ?? config.defaults.humanTimeoutMs,
      onTimeout: config.defaults.humanOnTimeout,
    });
  }
  return { routes, warnings };
}
