/**
 * The Slack approver end to end: curl's POST is held by the gateway, posted to a fake Slack as a
 * Block Kit message, and decided by a button click over Socket Mode or the signed HTTP
 * interactivity endpoint; curl then gets the upstream's answer or the deny shape, the receipt
 * names the Slack user, and the message shows the outcome.
 */

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { SLACK_INTERACTIVITY_PATH, SlackNotifier } from "../src/approvals/slack.ts";
import { clickPayload, type FakeMessage, FakeSlack, interactivityRequest } from "./_slack_fakes.ts";
import { DEFAULT_RULES, type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { eventually, withTimeout } from "./_helpers.ts";
import { curlOutcome, curlPost } from "./_curl.ts";

const SIGNING = "slack-signing-secret-e2e-5f1c";

const rules = (timeout: string) => `
approver "human_approver" "ops" {
  slack_channel = "#agent-ops"
  credential    = slack_tokens.slack
  approvers     = ["U1", "U2"]
  timeout       = "${timeout}"
}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [human_approver.ops]
  reason    = "writes need a human"
}
${DEFAULT_RULES}`;

interface SlackFixture {
  fx: ProxyFixture;
  fake: FakeSlack;
  slack: SlackNotifier;
  logs: string[];
}

/** A gateway whose human approver posts to a fake Slack, with a notifier wired to its queue. */
async function withSlackGateway(
  timeout: string,
  fn: (s: SlackFixture) => Promise<void>,
): Promise<void> {
  const fake = FakeSlack.start();
  const slots: Record<string, string> = {
    bot: fake.botToken,
    app: fake.appToken,
    signing: SIGNING,
  };
  try {
    await withProxy({
      credentials: `credential "slack_tokens" "slack" {}`,
      rules: rules(timeout),
    }, async (fx) => {
      const logs: string[] = [];
      const slack = new SlackNotifier(fx.gateway.approvalQueue, {
        secret: (name, slot = "value") =>
          Promise.resolve(name === "slack" ? slots[slot] ?? null : null),
        log: (level, message, fields) => logs.push(JSON.stringify({ level, message, fields })),
        slackApiUrl: fake.apiUrl,
      });
      try {
        await slack.configure(fx.gateway.config);
        await eventually(
          "Socket Mode connected",
          () => slack.socketConnected("slack") || undefined,
        );
        await fn({ fx, fake, slack, logs });
      } finally {
        await slack.stop();
      }
      const all = logs.join("\n");
      for (const secret of [fake.botToken, fake.appToken, SIGNING]) {
        ok(!all.includes(secret), "a Slack secret reached the log");
      }
    });
  } finally {
    await fake.close();
  }
}

/** curl POST through the proxy, as a running child. */

function posted(fake: FakeSlack): Promise<FakeMessage> {
  return eventually("the Slack message", () => fake.messages.values().next().value);
}

const blocksText = (m: FakeMessage) => JSON.stringify(m.blocks);

Deno.test("curl held by the gateway is approved by a Slack click over Socket Mode", async () => {
  await withSlackGateway("30s", async ({ fx, fake, slack }) => {
    const curl = curlPost(fx, { body: "ship it", url: "https://api.test/write?dry_run=false" });
    const message = await posted(fake);
    const [pending] = fx.gateway.approvalQueue.list();
    const text = blocksText(message);
    ok(text.includes("POST https://api.test/write?dry_run=false"), text);
    ok(text.includes("ship it"), "the body is not shown");
    ok(
      text.includes(pending.request.id) && text.includes(pending.request.fingerprint.slice(0, 12)),
    );
    equal(fx.seen.length, 0, "the upstream saw the request before it was approved");
    await fake.interactive(clickPayload(message, "U1", "approve"));
    const result = await withTimeout(curlOutcome(curl), 25_000, "curl");
    equal(result.status, 200, result.body);
    equal(fx.seen.map((r) => [r.method, r.target, r.body]), [[
      "POST",
      "/write?dry_run=false",
      "ship it",
    ]]);
    const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
    equal(receipt.verdict, "allow");
    equal(receipt.approvals.map((a) => [a.approver, a.decision, a.who]), [
      ["human_approver.ops", "allow", "slack:U1"],
    ]);
    await slack.settled();
    ok(blocksText(message).includes("*Approved* by <@U1>"), blocksText(message));
  });
});

Deno.test("curl held by the gateway is denied by a signed Slack click on the interactivity endpoint", async () => {
  await withSlackGateway("30s", async ({ fx, fake, slack }) => {
    const curl = curlPost(fx, { body: "ship it", url: "https://api.test/write?dry_run=false" });
    const message = await posted(fake);
    const url = `http://127.0.0.1:${fx.gateway.adminAddress.port}${SLACK_INTERACTIVITY_PATH}`;
    const forged = await interactivityRequest(
      url,
      "guessed-secret",
      clickPayload(message, "U2", "approve"),
    );
    equal((await slack.handleInteractivity(forged)).status, 401);
    const req = await interactivityRequest(url, SIGNING, clickPayload(message, "U2", "deny"));
    equal((await slack.handleInteractivity(req)).status, 200);
    const result = await withTimeout(curlOutcome(curl), 25_000, "curl");
    equal(result.status, 403);
    const body = JSON.parse(result.body);
    equal([body.error, body.reason], ["denied", "denied by slack:U2"]);
    equal(fx.seen.length, 0);
    const receipt = (await fx.receipts()).find((r) => r.id === body.receipt)!;
    equal(receipt.approvals.map((a) => [a.decision, a.who]), [["deny", "slack:U2"]]);
    await slack.settled();
    ok(blocksText(message).includes("*Denied* by <@U2>"));
  });
});

Deno.test("a Slack click by someone not on the list is ignored; the request times out and the message says so", async () => {
  await withSlackGateway("1500ms", async ({ fx, fake, slack, logs }) => {
    const curl = curlPost(fx, { body: "ship it", url: "https://api.test/write?dry_run=false" });
    const message = await posted(fake);
    await fake.interactive(clickPayload(message, "U9", "approve"));
    const result = await withTimeout(curlOutcome(curl), 25_000, "curl");
    equal(result.status, 403);
    equal(
      JSON.parse(result.body).reason,
      "approval stage 'human_approver.ops' timed out after 1500 ms",
    );
    equal(fx.seen.length, 0, "the unlisted user's click let the request through");
    ok(logs.some((l) => l.includes("ignored a click by slack:U9")));
    const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
    equal(receipt.approvals.map((a) => [a.decision, a.who]), [["deny", "timeout"]]);
    await slack.settled();
    ok(blocksText(message).includes("*Timed out* after 1500 ms"), blocksText(message));
  });
});
