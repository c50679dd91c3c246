import { deepStrictEqual as equal, ok } from "node:assert/strict";
import type { ApprovalRequest, HttpFacts } from "../core/mod.ts";
import type { PendingApproval } from "./queue.ts";
import { approvalMessage, escape, MAX_SHOWN_CHARS, type SlackMessage } from "./_slack_blocks.ts";

const FP = "0123456789ab".padEnd(64, "f");
const AUDIENCE = { approver: "human_approver.ops", approvers: ["U1", "U2"] };

const HTTP: HttpFacts = {
  method: "post",
  scheme: "https",
  host: "api.github.com",
  port: 443,
  path: "/repos/acme/api/pulls",
  raw_path: "/repos/acme/api/pulls",
  canonical_path: "/repos/acme/api/pulls",
  path_anomalies: [],
  effective_method: "post",
  query: { draft: ["true"], label: ["a b", "c"] },
  headers: {},
  body: '{"title":"<!channel> fix"}',
  body_json: null,
  body_truncated: false,
  graphql: { operation_types: [], operation_name: "", fields: [] },
  placeholders: [],
  misplaced_placeholders: [],
  unknown_placeholders: [],
};

function pending(request: Partial<ApprovalRequest> = {}, quorum = 1): PendingApproval {
  return {
    request: {
      id: "apr_0123456789abcdef0123",
      fingerprint: FP,
      protocol: "https",
      endpoint: "github",
      agent: { name: "bot", profile: "bots" },
      rule: "github-writes",
      reason: "writes need a human",
      summary: "POST api.github.com/repos/acme/api/pulls",
      facts: { http: HTTP },
      createdAt: new Date("2025-01-02T03:04:05.678Z"),
      ...request,
    },
    approver: "human_approver.ops",
    quorum,
    allowedBy: [],
    since: new Date(),
  };
}

const json = (m: SlackMessage) => JSON.stringify(m.blocks);
const mrkdwnTexts = (m: SlackMessage) =>
  JSON.stringify(m.blocks).match(/"type":"mrkdwn","text":"(?:[^"\\]|\\.)*"/g) ?? [];
const actions = (m: SlackMessage) =>
  m.blocks.find((b) => b.type === "actions") as { elements: Record<string, unknown>[] } | undefined;

Deno.test("approvalMessage() shows the exact HTTP request, body, id, short fingerprint and who may decide", () => {
  const m = approvalMessage(pending(), { kind: "waiting" }, AUDIENCE);
  const text = json(m);
  for (
    const part of [
      "POST https://api.github.com/repos/acme/api/pulls?draft=true&label=a+b&label=c",
      '{\\"title\\":\\"<!channel> fix\\"}',
      "apr_0123456789abcdef0123",
      "`0123456789ab`",
      "github (https)",
      "github-writes",
      "writes need a human",
      "bot (profile bots)",
      "Only <@U1>, <@U2> may decide.",
      "2025-01-02T03:04:05Z",
    ]
  ) ok(text.includes(part), `missing ${part} in ${text}`);
  equal(actions(m)?.elements.map((e) => [e.action_id, e.value, e.style]), [
    ["clawpatrol_approve", `apr_0123456789abcdef0123:${FP}`, "primary"],
    ["clawpatrol_deny", `apr_0123456789abcdef0123:${FP}`, "danger"],
  ]);
  equal(
    m.text,
    "Approval needed: POST api.github.com/repos/acme/api/pulls by agent bot (rule github-writes)",
  );
});

Deno.test("approvalMessage() keeps agent-controlled text out of mrkdwn, so it cannot mention or link", () => {
  const sneaky = "DELETE FROM t -- <!channel> <https://evil.test|docs> & <@U1>";
  const m = approvalMessage(
    pending({
      summary: sneaky,
      protocol: "postgres",
      facts: {
        sql: {
          verb: "delete",
          verbs: ["delete"],
          tables: ["t"],
          functions: [],
          statement: sneaky,
          statement_count: 1,
          database: "app",
          user: "agent",
          dynamic: false,
          params: ["<!here>"],
          read_only: false,
          settings: [],
        },
      },
    }),
    { kind: "waiting" },
    { approver: "human_approver.ops", approvers: [] },
  );
  for (const text of mrkdwnTexts(m)) {
    ok(!/<!|<https?:/.test(text), `mrkdwn carries a live mention or link: ${text}`);
  }
  ok(
    json(m).includes(
      `"type":"rich_text_preformatted","elements":[{"type":"text","text":${JSON.stringify(sneaky)}`,
    ),
  );
  ok(json(m).includes("$1 = <!here>"), "parameters are shown, verbatim, preformatted");
  ok(m.text.includes("&lt;!channel&gt;"));
  ok(json(m).includes("Anyone in this channel may decide."));
  equal(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
});

Deno.test("approvalMessage() shows votes towards a quorum and keeps the buttons", () => {
  const p = pending({}, 2);
  p.allowedBy.push("slack:U1");
  const m = approvalMessage(p, { kind: "waiting" }, AUDIENCE);
  ok(json(m).includes("Needs 2 approvals."));
  ok(json(m).includes("*1 of 2 approvals* so far: <@U1>."));
  equal(actions(m)?.elements.length, 2);
});

Deno.test("approvalMessage() replaces the buttons with the outcome once decided", () => {
  const cases = [
    [
      { kind: "approved", who: "slack:U1+cli:alice", reason: "ok" },
      "*Approved* by <@U1>, cli:alice",
      "Approved:",
    ],
    [
      { kind: "denied", who: "slack:U2", reason: "not <now>" },
      "*Denied* by <@U2>\\n>not &lt;now&gt;",
      "Denied:",
    ],
    [
      { kind: "timed_out", afterMs: 600_000, outcome: "deny" },
      "*Timed out* after 600 s with no decision: denied (human_on_timeout = deny)",
      "Timed out:",
    ],
    [
      { kind: "timed_out", afterMs: 1500, outcome: "allow" },
      "after 1500 ms with no decision: allowed (human_on_timeout = allow)",
      "Timed out:",
    ],
    [{ kind: "cancelled" }, "*Cancelled*: the agent went away", "Cancelled:"],
  ] as const;
  for (const [status, shown, prefix] of cases) {
    const m = approvalMessage(pending(), status, AUDIENCE);
    ok(json(m).includes(shown), `${status.kind}: ${json(m)}`);
    equal(actions(m), undefined, `${status.kind} keeps buttons`);
    ok(m.text.startsWith(prefix), m.text);
  }
});

Deno.test("approvalMessage() cuts very long statements and says so", () => {
  const statement = "x".repeat(MAX_SHOWN_CHARS + 10);
  const p = pending({ facts: { http: { ...HTTP, body: statement, body_truncated: true } } });
  const text = json(approvalMessage(p, { kind: "waiting" }, AUDIENCE));
  ok(text.includes("… (10 more characters: see 'clawpatrol approvals list')"));
  ok(text.includes("the gateway read only this much of the body"));
  ok(!text.includes("x".repeat(MAX_SHOWN_CHARS + 1)));
});
