import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { WebAPIPlatformError } from "@slack/web-api";
import { FakeSlack } from "../../tests/_slack_fakes.ts";
import { eventually } from "../../tests/_helpers.ts";
import { describeSlackError, maskTokens, slackLogger, SlackSocket } from "./_slack_socket.ts";
import { slackSdk } from "./_slack_sdk.ts";

Deno.test("maskTokens() hides Slack tokens and Socket Mode tickets", () => {
  equal(
    maskTokens(
      "Bearer xoxb-123-456-abcDEF and xapp-1-A0-99-ff, wss://x/link/?ticket=abc-123&app_id=A1",
    ),
    "Bearer [redacted token] and [redacted token], wss://x/link/?ticket=[redacted]&app_id=A1",
  );
  equal(maskTokens("xoxp-1 xoxe-2 xoxa-3"), "[redacted token] [redacted token] [redacted token]");
});

Deno.test("describeSlackError() names Slack's error code, or the first line of the message", () => {
  equal(
    describeSlackError(new WebAPIPlatformError({ ok: false, error: "channel_not_found" })),
    "channel_not_found",
  );
  equal(describeSlackError(new Error("connect refused\nstack")), "connect refused");
  equal(describeSlackError(new Error("bad token xoxb-1-2-3")), "bad token [redacted token]");
});

Deno.test("slackLogger() drops debug output and masks tokens in the rest", () => {
  const lines: string[] = [];
  const logger = slackLogger((level, message) => lines.push(`${level} ${message}`), "slack");
  logger.debug("http request headers: Bearer xoxb-1-2");
  logger.warn("http request failed", "token xoxb-9-9");
  logger.error("oops");
  equal(lines, ["warn slack: http request failed token [redacted token]", "warn slack: oops"]);
});

Deno.test("SlackSocket retries a refused connection with backoff, and stop() leaves nothing running", async () => {
  const fake = FakeSlack.start();
  const logs: string[] = [];
  const socket = new SlackSocket(await slackSdk(), "slack", "xapp-1-WRONG", {
    slackApiUrl: fake.apiUrl,
    log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
    onInteractive: () => {},
    reconnectDelayMs: 20,
  });
  try {
    socket.start();
    await eventually("three attempts", () => fake.callsTo("apps.connections.open")[2]);
    equal(socket.connected, false);
    ok(
      logs.some((l) => l.includes("could not connect") && l.includes("invalid_auth")),
      logs.join("\n"),
    );
    ok(!logs.join("\n").includes("WRONG"), "the app token reached the log");
  } finally {
    await socket.stop();
    await fake.close();
  }
});

Deno.test("SlackSocket acknowledges every envelope and hands interactive payloads over", async () => {
  const fake = FakeSlack.start();
  const payloads: unknown[] = [];
  const socket = new SlackSocket(await slackSdk(), "slack", fake.appToken, {
    slackApiUrl: fake.apiUrl,
    log: () => {},
    onInteractive: (payload) => payloads.push(payload),
  });
  try {
    socket.start();
    await eventually("connected", () => socket.connected || undefined);
    const ack = await fake.interactive({ type: "block_actions", n: 1 });
    equal(ack, { envelope_id: "env-1", payload: {} });
    equal(payloads, [{ type: "block_actions", n: 1 }]);
  } finally {
    await socket.stop();
    await fake.close();
  }
  equal(fake.openSockets, 0);
});
