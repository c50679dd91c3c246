import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { clickPayload, interactivityRequest } from "../../tests/_slack_fakes.ts";
import { eventually, withTimeout } from "../../tests/_helpers.ts";
import { APPROVER, buttons, SIGNING, textOf, URL_PATH, withSlack } from "./_slack_testing.ts";

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
