/**
 * Shared setup for the SlackNotifier tests: a fake Slack, a config with a Slack-backed human
 * approver, and a held `DELETE FROM users` to approve.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import type { Action, SqlFacts } from "../core/mod.ts";
import { type Config, loadConfigText } from "../config/mod.ts";
import { type FakeMessage, FakeSlack } from "../../tests/_slack_fakes.ts";
import { eventually } from "../../tests/_helpers.ts";
import { ApprovalQueue, Approvals, type HeldOutcome } from "./mod.ts";
import { SLACK_INTERACTIVITY_PATH, SlackNotifier } from "./slack.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

/** The signing secret in the vault's `slack` credential. */
export const SIGNING = "8f742231b10e8888abcd99yyyzzz85a5-test-signing";
/** Where interactivity requests are sent. */
export const URL_PATH = `http://127.0.0.1${SLACK_INTERACTIVITY_PATH}`;

/** What a test gets from {@linkcode withSlack}. */
export interface Harness {
  fake: FakeSlack;
  queue: ApprovalQueue;
  slack: SlackNotifier;
  approvals: Approvals;
  config: Config;
  logs: string[];
  /** Runs the `ops` chain for `DELETE FROM users WHERE id = 7`. */
  hold(signal?: AbortSignal): Promise<HeldOutcome>;
  /** The request waiting in the queue. */
  pending(): Promise<{ id: string; fingerprint: string }>;
  /** The posted message, once there. */
  message(): Promise<FakeMessage>;
}

/** Options for {@linkcode withSlack}. */
export interface HarnessOptions {
  /** Attributes inside `approver "human_approver" "ops" { … }`. */
  approver?: string;
  /** Vault slots of credential `slack` (default: bot, app and signing). */
  slots?: Record<string, string>;
  socketMode?: boolean;
}

/** The attributes of the `ops` approver unless a test gives its own. */
export const APPROVER = `
  slack_channel = "#agent-ops"
  credential    = slack_tokens.slack
  approvers     = ["U1", "U2"]
  timeout       = 30`;

/** Runs `fn` with a configured SlackNotifier; afterwards no secret may be in the log. */
export async function withSlack(
  options: HarnessOptions,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const fake = FakeSlack.start();
  const slots = options.slots ??
    { bot: fake.botToken, app: fake.appToken, signing: SIGNING };
  const config = await loadConfigText(
    "t.hcl",
    `schema_version = 1
credential "slack_tokens" "slack" {}
approver "human_approver" "ops" {${options.approver ?? APPROVER}
}
`,
    { protocols: PROTOCOLS },
  );
  const logs: string[] = [];
  const log = (level: string, message: string, fields?: object) =>
    logs.push(JSON.stringify({ level, message, fields }));
  const secret = (name: string, slot = "value") =>
    Promise.resolve(name === "slack" ? slots[slot] ?? null : null);
  const queue = new ApprovalQueue();
  const slack = new SlackNotifier(queue, {
    secret,
    log,
    slackApiUrl: fake.apiUrl,
    socketMode: options.socketMode,
    reconnectDelayMs: 50,
  });
  const approvals = new Approvals(config, { queue, secret, fetch, log });
  const h: Harness = {
    fake,
    queue,
    slack,
    approvals,
    config,
    logs,
    hold: (signal = new AbortController().signal) =>
      approvals.run(ACTION, {
        rule: "no-deletes",
        reason: "deletes need a DBA",
        chain: ["human_approver.ops"],
        facts: ACTION.facts,
        signal,
      }),
    pending: () =>
      eventually("a held request", () => {
        const [p] = queue.list();
        return p && { id: p.request.id, fingerprint: p.request.fingerprint };
      }),
    message: () => eventually("the Slack message", () => fake.messages.values().next().value),
  };
  try {
    await slack.configure(config);
    if (slots.app && options.socketMode !== false) {
      await eventually("Socket Mode connected", () => slack.socketConnected("slack") || undefined);
    }
    await fn(h);
  } finally {
    await slack.stop();
    await fake.close();
  }
  // Whatever happened, no token or secret reached the log.
  const all = logs.join("\n");
  for (const secretValue of [fake.botToken, fake.appToken, SIGNING]) {
    ok(!all.includes(secretValue), `the log holds a secret: ${all}`);
  }
}

const SQL: SqlFacts = {
  verb: "delete",
  verbs: ["delete"],
  tables: ["users"],
  functions: [],
  statement: "DELETE FROM users WHERE id = 7",
  statement_count: 1,
  database: "app",
  user: "agent_rw",
  dynamic: false,
  params: [],
  read_only: false,
  settings: [],
};

/** The held action: `DELETE FROM users WHERE id = 7` by agent bot on pg. */
const ACTION: Action = {
  protocol: "postgres",
  endpoint: "pg",
  agent: { name: "bot", profile: "bots" },
  facts: { sql: SQL },
  summary: "DELETE FROM users",
};

/** All text of a message's blocks, flattened. */
export function textOf(message: FakeMessage): string {
  return JSON.stringify(message.blocks);
}

/** The buttons's actions block. */
export function buttons(message: FakeMessage): Record<string, unknown>[] {
  const actions = message.blocks.find((b) => b.type === "actions") as
    | { elements: Record<string, unknown>[] }
    | undefined;
  return actions?.elements ?? [];
}
