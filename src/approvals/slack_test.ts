import { deepStrictEqual as equal, ok } from "node:assert/strict";
import type { Action, SqlFacts } from "../core/mod.ts";
import { type Config, loadConfigText } from "../config/mod.ts";
import {
  clickPayload,
  type FakeMessage,
  FakeSlack,
  interactivityRequest,
} from "../../tests/_slack_fakes.ts";
import { eventually, withTimeout } from "../../tests/_helpers.ts";
import { ApprovalQueue, Approvals, type HeldOutcome } from "./mod.ts";
import { SLACK_INTERACTIVITY_PATH, SlackNotifier } from "./slack.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

const SIGNING = "8f742231b10e8888abcd99yyyzzz85a5-test-signing";
const URL_PATH = `http://127.0.0.1${SLACK_INTERACTIVITY_PATH}`;

interface Harness {
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

interface HarnessOptions {
  /** Attributes inside `approver "human_approver" "ops" { … }`. */
  approver?: string;
  /** Vault slots of credential `slack` (default: bot, app and signing). */
  slots?: Record<string, string>;
  socketMode?: boolean;
}

const APPROVER = `
  slack_channel = "#agent-ops"
  credential    = slack_tokens.slack
  approvers     = ["U1", "U2"]
  timeout       = 30`;

async function withSlack(
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
  statement_count: 1n,
  database: "app",
  user: "agent_rw",
  dynamic: false,
  params: [],
  read_only: false,
  settings: [],
};

const ACTION: Action = {
  protocol: "postgres",
  endpoint: "pg",
  agent: { name: "bot", profile: "bots" },
  facts: { sql: SQL },
  summary: "DELETE FROM users",
};

/** All text of a message's blocks, flattened. */
function textOf(message: FakeMessage): string {
  return JSON.stringify(message.blocks);
}

function buttons(message: FakeMessage): Record<string, unknown>[] {
  const actions = message.blocks.find((b) => b.type === "actions") as
    | { elements: Record<string, unknown>[] }
    | undefined;
  return actions?.elements ?? [];
}

Deno.test("SlackNotifier posts a held request with the statement, id, fingerprint and bound buttons", async () => {
  await withSlack({}, async (h) => {
    const held = h.hold();
    const { id, fingerprint } = await h.pending();
    const message = await h.message();
    const [post] = h.fake.callsTo("chat.postMessage");
    equal(post.token, h.fake.botToken);
    equal(post.args.channel, "#agent-ops");
    const text = textOf(message);
    for (const part of ["DELETE FROM users WHERE id = 7", "bot", "pg", "no-deletes", id]) {
      ok(text.includes(part), `the message lacks ${part}: ${text}`);
    }
    ok(text.includes("deletes need a DBA"));
    ok(text.includes(fingerprint.slice(0, 12)));
    equal(
      buttons(message).map((b) => [b.action_id, b.value]),
      [["clawpatrol_approve", `${id}:${fingerprint}`], ["clawpatrol_deny", `${id}:${fingerprint}`]],
    );
    ok(message.text.startsWith("Approval needed: DELETE FROM users by agent bot"));
    // The CLI still decides, and the message follows.
    equal(h.queue.decide(id, "allow", "cli:alice"), "decided");
    const result = await held;
    equal([result.decision, result.stages[0].who], ["allow", "cli:alice"]);
    await h.slack.settled();
    const [update] = h.fake.callsTo("chat.update");
    equal([update.args.channel, update.args.ts], [message.channel, message.ts]);
    ok(textOf(message).includes("*Approved* by cli:alice"));
    equal(buttons(message), [], "a decided request keeps its buttons");
  });
});

Deno.test("a Socket Mode Approve click allows the request as slack:U1 and is acknowledged", async () => {
  await withSlack({}, async (h) => {
    const held = h.hold();
    const message = await h.message();
    const ack = await h.fake.interactive(clickPayload(message, "U1", "approve"));
    ok(ack.envelope_id.startsWith("env-"));
    const result = await withTimeout(held, 5_000, "the chain");
    equal(result.decision, "allow");
    equal(result.stages.map((s) => [s.approver, s.decision, s.who]), [
      ["human_approver.ops", "allow", "slack:U1"],
    ]);
    await h.slack.settled();
    ok(textOf(message).includes("*Approved* by <@U1>"), textOf(message));
    ok(message.text.startsWith("Approved:"));
  });
});

Deno.test("an HTTP interactivity Deny click with a valid signature denies as slack:U2", async () => {
  await withSlack({ slots: { bot: "xoxb-test-bot", signing: SIGNING } }, async (h) => {
    const held = h.hold();
    const message = await h.message();
    const req = await interactivityRequest(URL_PATH, SIGNING, clickPayload(message, "U2", "deny"));
    const res = await h.slack.handleInteractivity(req);
    equal([res.status, await res.text()], [200, ""]);
    const result = await withTimeout(held, 5_000, "the chain");
    equal([result.decision, result.stages[0].who], ["deny", "slack:U2"]);
    await h.slack.settled();
    ok(textOf(message).includes("*Denied* by <@U2>"), textOf(message));
    equal(h.fake.callsTo("apps.connections.open"), [], "no app token: no Socket Mode");
  });
});

Deno.test("a click by a Slack user not on the approvers list is ignored and the request waits", async () => {
  await withSlack({}, async (h) => {
    const held = h.hold();
    const { id } = await h.pending();
    const message = await h.message();
    await h.fake.interactive(clickPayload(message, "U9", "approve"));
    await eventually("the ephemeral note", () => h.fake.callsTo("chat.postEphemeral")[0]);
    equal(h.queue.get(id)?.allowedBy, [], "the click was counted");
    const [note] = h.fake.callsTo("chat.postEphemeral");
    equal([note.args.user, note.args.channel], ["U9", message.channel]);
    ok(String(note.args.text).includes("not on the approver list"));
    ok(h.logs.some((l) => l.includes("ignored a click by slack:U9")));
    // A listed user still decides.
    await h.fake.interactive(clickPayload(message, "U1", "deny"));
    const result = await withTimeout(held, 5_000, "the chain");
    equal([result.decision, result.stages[0].who], ["deny", "slack:U1"]);
  });
});

Deno.test("quorum 2 needs two different Slack users; the message shows 1 of 2 meanwhile", async () => {
  await withSlack({ approver: `${APPROVER}\n  quorum = 2` }, async (h) => {
    const held = h.hold();
    const { id } = await h.pending();
    const message = await h.message();
    ok(textOf(message).includes("Needs 2 approvals"));
    await h.fake.interactive(clickPayload(message, "U1", "approve"));
    await eventually("the vote", () => h.queue.get(id)?.allowedBy.length === 1 || undefined);
    await h.slack.settled();
    ok(textOf(message).includes("1 of 2 approvals"), textOf(message));
    equal(buttons(message).length, 2, "the buttons stay until the quorum is reached");
    // The same person twice does not make a quorum.
    await h.fake.interactive(clickPayload(message, "U1", "approve"));
    const note = await eventually("the refusal", () => h.fake.callsTo("chat.postEphemeral")[0]);
    equal(note.args.text, "Your click was not counted: you already approved.");
    equal(h.queue.get(id)?.allowedBy, ["slack:U1"]);
    await h.fake.interactive(clickPayload(message, "U2", "approve"));
    const result = await withTimeout(held, 5_000, "the chain");
    equal([result.decision, result.stages[0].who], ["allow", "slack:U1+slack:U2"]);
    await h.slack.settled();
    ok(textOf(message).includes("*Approved* by <@U1>, <@U2>"), textOf(message));
  });
});

Deno.test("the interactivity endpoint answers 401 to bad, stale, missing and replayed signatures", async () => {
  await withSlack({}, async (h) => {
    const held = h.hold();
    const { id } = await h.pending();
    const message = await h.message();
    const deny = clickPayload(message, "U1", "deny");
    const status = async (req: Request) => (await h.slack.handleInteractivity(req)).status;
    equal(await status(await interactivityRequest(URL_PATH, "not-the-secret", deny)), 401);
    const stale = Math.floor(Date.now() / 1000) - 301;
    equal(
      await status(await interactivityRequest(URL_PATH, SIGNING, deny, { timestamp: stale })),
      401,
    );
    const future = Math.floor(Date.now() / 1000) + 301;
    equal(
      await status(await interactivityRequest(URL_PATH, SIGNING, deny, { timestamp: future })),
      401,
    );
    const unsigned = await interactivityRequest(URL_PATH, SIGNING, deny);
    unsigned.headers.delete("x-slack-signature");
    equal(await status(unsigned), 401);
    equal(await status(new Request(URL_PATH)), 405);
    equal(h.queue.get(id)?.request.id, id, "a refused request decided something");
    // A good approve is taken once; the very same request again is a replay.
    const approve = await interactivityRequest(
      URL_PATH,
      SIGNING,
      clickPayload(message, "U1", "approve"),
    );
    const replay = approve.clone();
    equal(await status(approve), 200);
    equal((await withTimeout(held, 5_000, "the chain")).decision, "allow");
    equal(await status(replay), 401);
    ok(h.logs.some((l) => l.includes("signature stale")));
    ok(h.logs.some((l) => l.includes("bad signature")));
    ok(h.logs.some((l) => l.includes("replayed")));
  });
});

Deno.test("a click whose fingerprint differs from the waiting request's is ignored", async () => {
  await withSlack({}, async (h) => {
    const held = h.hold();
    const { id } = await h.pending();
    const message = await h.message();
    const forged = clickPayload(message, "U1", "approve", { value: `${id}:${"0".repeat(64)}` });
    await h.fake.interactive(forged);
    const req = await interactivityRequest(URL_PATH, SIGNING, forged);
    equal((await h.slack.handleInteractivity(req)).status, 200);
    // A click claiming another message of the channel is not this request's either.
    await h.fake.interactive(clickPayload(message, "U1", "approve", { messageTs: "1.000000" }));
    await eventually("three notes", () => h.fake.callsTo("chat.postEphemeral")[2]);
    equal(h.queue.get(id)?.allowedBy, []);
    equal(h.logs.filter((l) => l.includes("fingerprint does not match")).length, 2);
    ok(h.logs.some((l) => l.includes("not on the message posted")));
    equal(h.queue.decide(id, "deny", "cli:alice", "checked"), "decided");
    equal((await held).decision, "deny");
  });
});

Deno.test("a stage that times out updates the message to 'timed out' and denies", async () => {
  await withSlack(
    { approver: APPROVER.replace("timeout       = 30", `timeout = "400ms"`) },
    async (h) => {
      const result = await withTimeout(h.hold(), 5_000, "the chain");
      equal(result.decision, "deny");
      equal(result.stages[0].who, "timeout");
      await h.slack.settled();
      const message = await h.message();
      ok(textOf(message).includes("*Timed out* after 400 ms"), textOf(message));
      ok(textOf(message).includes("denied (human_on_timeout = deny)"));
      equal(buttons(message), []);
      // A late click changes nothing.
      await h.fake.interactive(clickPayload(
        { ...message, blocks: h.fake.callsTo("chat.postMessage")[0].args.blocks as never },
        "U1",
        "approve",
      ));
      ok(h.logs.some((l) => l.includes("no longer waiting")));
    },
  );
});

Deno.test("an agent that goes away updates the message to 'cancelled'", async () => {
  await withSlack({}, async (h) => {
    const agent = new AbortController();
    const held = h.hold(agent.signal);
    const message = await h.message();
    agent.abort();
    equal((await held).decision, "deny");
    await h.slack.settled();
    ok(textOf(message).includes("*Cancelled*"), textOf(message));
  });
});

Deno.test("Slack API failures are logged and never change a decision", async () => {
  await withSlack({}, async (h) => {
    h.fake.failing.set("chat.postMessage", "channel_not_found");
    const held = h.hold();
    const { id } = await h.pending();
    await eventually("the failed post", () => h.fake.callsTo("chat.postMessage")[0]);
    await h.slack.settled();
    ok(
      h.logs.some((l) => l.includes("could not post approval") && l.includes("channel_not_found")),
    );
    equal(h.queue.get(id)?.request.id, id, "the request stopped waiting");
    equal(h.queue.decide(id, "allow", "cli:alice"), "decided");
    equal((await held).decision, "allow");
    await h.slack.settled();
    equal(h.fake.callsTo("chat.update"), [], "updated a message never posted");

    // An update that fails does not undo a decision either.
    h.fake.failing.delete("chat.postMessage");
    h.fake.failing.set("chat.update", "ratelimited");
    const second = h.hold();
    const message = await h.message();
    await h.fake.interactive(clickPayload(message, "U2", "approve"));
    equal((await second).decision, "allow");
    await h.slack.settled();
    ok(h.logs.some((l) => l.includes("could not update") && l.includes("ratelimited")));
  });
});

Deno.test("without a bot token nothing is posted; the CLI queue still decides", async () => {
  await withSlack({ slots: {} }, async (h) => {
    const held = h.hold();
    const { id } = await h.pending();
    await h.slack.settled();
    equal(h.fake.calls, []);
    ok(h.logs.some((l) => l.includes("no bot token")));
    equal(h.queue.decide(id, "deny", "cli:alice"), "decided");
    equal((await held).decision, "deny");
  });
});

Deno.test("without slack_channel nothing is posted, and a credential alone is reported", async () => {
  await withSlack(
    { approver: `\n  credential = slack_tokens.slack`, socketMode: false },
    async (h) => {
      const held = h.hold();
      const { id } = await h.pending();
      await h.slack.settled();
      equal(h.fake.calls, []);
      ok(h.logs.some((l) => l.includes("has a credential but no slack_channel")));
      equal(h.queue.decide(id, "allow", "cli:alice"), "decided");
      equal((await held).decision, "allow");
    },
  );
});

Deno.test("Socket Mode reconnects when Slack drops the connection, and stops on reconfigure", async () => {
  await withSlack({}, async (h) => {
    equal(h.fake.connections, 1);
    const [open] = h.fake.callsTo("apps.connections.open");
    equal(open.token, h.fake.appToken);
    h.fake.dropSockets();
    await eventually("a second connection", () => h.fake.connections === 2 || undefined);
    await eventually("connected again", () => h.slack.socketConnected("slack") || undefined);
    const held = h.hold();
    const message = await h.message();
    await h.fake.interactive(clickPayload(message, "U1", "approve"));
    equal((await held).decision, "allow");
    // A config without Slack closes the connection.
    await h.slack.configure(
      await loadConfigText("t.hcl", "schema_version = 1\n", { protocols: PROTOCOLS }),
    );
    await eventually("no connection", () => h.fake.openSockets === 0 || undefined);
    equal(h.slack.socketConnected("slack"), false);
  });
});
