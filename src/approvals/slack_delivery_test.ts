// SlackNotifier when things go otherwise: timeouts, cancelled agents, Slack API failures,
// missing tokens or channel, and a dropped Socket Mode connection.

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { loadConfigText } from "../config/mod.ts";
import { clickPayload } from "../../tests/_slack_fakes.ts";
import { eventually, withTimeout } from "../../tests/_helpers.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { APPROVER, buttons, textOf, withSlack } from "./_slack_testing.ts";

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
