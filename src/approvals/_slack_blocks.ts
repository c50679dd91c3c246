/**
 * The Block Kit message a human stage posts (https://api.slack.com/block-kit), and its updates.
 * Pure: no I/O.
 *
 * What the agent controls (summary, statement, path, body) is untrusted: it is shown in
 * `plain_text` and `rich_text` elements, which Slack never parses for mentions or links, or
 * escaped (`&`, `<`, `>`) where mrkdwn is needed, so a request cannot ping `@channel` or dress a
 * link up as something else.
 *
 * @module
 */

import type { ApprovalRequest } from "../core/mod.ts";
import type { PendingApproval } from "./queue.ts";
import { APPROVE_ACTION, buttonValue, DENY_ACTION } from "./_slack_actions.ts";

/** A Block Kit block (the subset we build). */
export type Block = Record<string, unknown>;

/** Arguments of `chat.postMessage` / `chat.update` besides channel and ts. */
export interface SlackMessage {
  /** Notification and fallback text (mrkdwn, escaped). */
  text: string;
  blocks: Block[];
}

/** Where a request stands, as the message shows it. */
export type MessageStatus =
  | { kind: "waiting" }
  | { kind: "approved"; who: string; reason: string }
  | { kind: "denied"; who: string; reason: string }
  /** The stage ran out of time; `outcome` is what `human_on_timeout` made of it. */
  | { kind: "timed_out"; afterMs: number; outcome: "allow" | "deny" }
  /** The stage ended without a decision before its timeout (the agent went away). */
  | { kind: "cancelled" };

/** Who may decide, for the message's footer. */
export interface MessageAudience {
  /** `human_approver.NAME`. */
  approver: string;
  /** Slack user ids allowed to decide; empty: anyone in the channel. */
  approvers: readonly string[];
}

/** Longest preformatted text shown; Slack caps a message's text at a few thousand characters. */
export const MAX_SHOWN_CHARS = 2_500;

/**
 * The message for `pending` in `status`: the request (agent, endpoint, rule, reason, the exact
 * statement or HTTP request), its approval id and short fingerprint, the votes so far, and
 * Approve/Deny buttons while it waits (the outcome instead once decided).
 *
 * @example
 * ```ts
 * const { text, blocks } = approvalMessage(pending, { kind: "waiting" }, audience);
 * await web.chat.postMessage({ channel: "#agent-ops", text, blocks });
 * ```
 */
export function approvalMessage(
  pending: PendingApproval,
  status: MessageStatus,
  audience: MessageAudience,
): SlackMessage {
  const { request } = pending;
  const blocks: Block[] = [
    {
      type: "header",
      text: plain(status.kind === "waiting" ? "Approval needed" : "Approval request"),
    },
    {
      type: "section",
      text: plain(clip(request.summary, 500)),
    },
    {
      type: "section",
      fields: [
        mrkdwn(`*Agent*\n${escape(request.agent.name)} (profile ${escape(request.agent.profile)})`),
        mrkdwn(`*Endpoint*\n${escape(request.endpoint || "(none)")} (${request.protocol})`),
        mrkdwn(`*Rule*\n${escape(request.rule)}`),
        mrkdwn(`*Approver*\n${escape(audience.approver)}`),
      ],
    },
  ];
  if (request.reason) {
    blocks.push({ type: "section", text: mrkdwn(`*Why held*\n${escape(request.reason)}`) });
  }
  for (const [label, text] of exactRequest(request)) {
    blocks.push({ type: "section", text: mrkdwn(`*${label}*`) });
    blocks.push(preformatted(text));
  }
  blocks.push({
    type: "context",
    elements: [mrkdwn(
      `Approval \`${request.id}\` · fingerprint \`${request.fingerprint.slice(0, 12)}\` · ` +
        `held ${request.createdAt.toISOString().replace(/\.\d+Z$/, "Z")}`,
    )],
  });
  blocks.push(...statusBlocks(pending, status, audience));
  return { text: fallbackText(request, status), blocks };
}

function statusBlocks(
  pending: PendingApproval,
  status: MessageStatus,
  audience: MessageAudience,
): Block[] {
  switch (status.kind) {
    case "waiting": {
      const who = audience.approvers.length > 0
        ? `Only ${audience.approvers.map(mention).join(", ")} may decide.`
        : "Anyone in this channel may decide.";
      const needed = pending.quorum > 1 ? `Needs ${pending.quorum} approvals. ` : "";
      const votes = pending.allowedBy.length > 0
        ? ` *${pending.allowedBy.length} of ${pending.quorum} approvals* so far: ${
          pending.allowedBy.map(person).join(", ")
        }.`
        : "";
      return [
        { type: "context", elements: [mrkdwn(`${needed}${who}${votes}`)] },
        {
          type: "actions",
          block_id: "clawpatrol_decision",
          elements: [
            {
              type: "button",
              action_id: APPROVE_ACTION,
              text: plain("Approve"),
              style: "primary",
              value: buttonValue(pending.request),
              confirm: {
                title: plain("Approve this request?"),
                text: plain(clip(pending.request.summary, 280)),
                confirm: plain("Approve"),
                deny: plain("Cancel"),
              },
            },
            {
              type: "button",
              action_id: DENY_ACTION,
              text: plain("Deny"),
              style: "danger",
              value: buttonValue(pending.request),
            },
          ],
        },
      ];
    }
    case "approved":
      return [outcome(`:white_check_mark: *Approved* by ${people(status.who)}`, status.reason)];
    case "denied":
      return [outcome(`:no_entry: *Denied* by ${people(status.who)}`, status.reason)];
    case "timed_out":
      return [outcome(
        `:hourglass: *Timed out* after ${seconds(status.afterMs)} with no decision: ` +
          (status.outcome === "allow"
            ? "allowed (human_on_timeout = allow)"
            : "denied (human_on_timeout = deny)"),
        "",
      )];
    case "cancelled":
      return [outcome(":heavy_multiplication_x: *Cancelled*: the agent went away", "")];
  }
}

function outcome(headline: string, reason: string): Block {
  const detail = reason ? `\n>${escape(clip(reason, 500)).replaceAll("\n", "\n>")}` : "";
  return { type: "section", text: mrkdwn(headline + detail) };
}

/** The exact thing that would run: what the fingerprint covers, redacted. */
function exactRequest(request: ApprovalRequest): [string, string][] {
  const { http, sql, k8s } = request.facts;
  const out: [string, string][] = [];
  if (sql) {
    out.push(["Statement", shown(sql.statement)]);
    const extras = [
      sql.database ? `database ${sql.database}` : "",
      sql.user ? `user ${sql.user}` : "",
      ...(sql.params ?? []).map((p, i) => `$${i + 1} = ${p}`),
    ].filter(Boolean);
    if (extras.length > 0) out.push(["Parameters", shown(extras.join("\n"))]);
  }
  if (http) {
    const port = Number(http.port);
    const defaultPort = http.scheme === "https" ? 443 : 80;
    const authority = port === defaultPort ? http.host : `${http.host}:${port}`;
    const query = new URLSearchParams();
    for (const [key, values] of Object.entries(http.query ?? {})) {
      for (const value of values) query.append(key, value);
    }
    const search = query.size > 0 ? `?${query}` : "";
    out.push([
      "Request",
      shown(`${http.method.toUpperCase()} ${http.scheme}://${authority}${http.path}${search}`),
    ]);
    if (k8s?.verb) {
      const where = [
        k8s.namespace ? `namespace ${k8s.namespace}` : "",
        k8s.name ? `name ${k8s.name}` : "",
      ].filter(Boolean).join(", ");
      const resource = [k8s.api_group, k8s.resource, k8s.subresource].filter(Boolean).join("/");
      out.push(["Kubernetes", shown(`${k8s.verb} ${resource}${where ? ` (${where})` : ""}`)]);
    }
    if (http.body) {
      const note = http.body_truncated ? "\n… (the gateway read only this much of the body)" : "";
      out.push(["Body", shown(http.body) + note]);
    }
  }
  return out;
}

function fallbackText(request: ApprovalRequest, status: MessageStatus): string {
  const what = `${escape(clip(request.summary, 200))} by agent ${escape(request.agent.name)}`;
  switch (status.kind) {
    case "waiting":
      return `Approval needed: ${what} (rule ${escape(request.rule)})`;
    case "approved":
      return `Approved: ${what}`;
    case "denied":
      return `Denied: ${what}`;
    case "timed_out":
      return `Timed out: ${what}`;
    case "cancelled":
      return `Cancelled: ${what}`;
  }
}

/** `slack:U1+cli:alice` → `<@U1>, cli:alice`. */
function people(who: string): string {
  return who.split("+").map(person).join(", ");
}

function person(who: string): string {
  const slack = /^slack:([A-Z0-9]{1,32})$/.exec(who);
  return slack ? `<@${slack[1]}>` : escape(who);
}

function mention(user: string): string {
  return /^[A-Z0-9]{1,32}$/.test(user) ? `<@${user}>` : escape(user);
}

function shown(text: string): string {
  return text.length > MAX_SHOWN_CHARS
    ? `${text.slice(0, MAX_SHOWN_CHARS)}\n… (${text.length - MAX_SHOWN_CHARS} more characters: ` +
      "see 'clawpatrol approvals list')"
    : text;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** mrkdwn's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function plain(text: string): Block {
  // plain_text must not be empty.
  return { type: "plain_text", text: text || " ", emoji: false };
}

function mrkdwn(text: string): Block {
  return { type: "mrkdwn", text, verbatim: true };
}

function preformatted(text: string): Block {
  return {
    type: "rich_text",
    elements: [{ type: "rich_text_preformatted", elements: [{ type: "text", text: text || " " }] }],
  };
}
