import { deepStrictEqual as equal } from "node:assert/strict";
import { MAX_INTERACTION_BYTES, SlackInteractivity } from "./_slack_interactivity.ts";
import { slackSignature } from "./_slack_signature.ts";

const NOW = 1_700_000_000_000;
const URL = "http://127.0.0.1/slack/interactivity";

function endpoint() {
  const got: [unknown, string][] = [];
  const logs: string[] = [];
  const interactivity = new SlackInteractivity({
    signingSecrets: () => Promise.resolve([["team_a", "secret-a"], ["team_b", "secret-b"]]),
    onPayload: (payload, credential) => got.push([payload, credential]),
    log: (level, message) => logs.push(`${level} ${message}`),
    now: () => NOW,
  });
  return { interactivity, got, logs };
}

async function signed(secret: string, body: string, timestamp = NOW / 1000): Promise<Request> {
  return new Request(URL, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": String(timestamp),
      "x-slack-signature": await slackSignature(secret, timestamp, body),
    },
    body,
  });
}

Deno.test("SlackInteractivity hands a signed payload over with the app whose secret signed it", async () => {
  const { interactivity, got } = endpoint();
  const body = `payload=${encodeURIComponent('{"type":"block_actions"}')}`;
  const res = await interactivity.handle(await signed("secret-b", body));
  equal([res.status, await res.text()], [200, ""]);
  equal(got, [[{ type: "block_actions" }, "team_b"]]);
});

Deno.test("SlackInteractivity refuses unsigned, unknown-secret, stale and replayed requests", async () => {
  const { interactivity, got, logs } = endpoint();
  const body = "payload=%7B%7D";
  const status = async (req: Request) => (await interactivity.handle(req)).status;
  equal(await status(new Request(URL, { method: "POST", body })), 401);
  equal(await status(await signed("secret-c", body)), 401);
  equal(await status(await signed("secret-a", body, NOW / 1000 - 301)), 401);
  const first = await signed("secret-a", body);
  const again = first.clone();
  equal(await status(first), 200);
  equal(await status(again), 401);
  equal(got.length, 1);
  equal(logs, [
    "warn Slack: refused an interaction: signature missing",
    "warn Slack: refused an interaction: bad signature (or no signing secret set)",
    "warn Slack: refused an interaction: signature stale",
    "warn Slack: refused a replayed interaction",
  ]);
});

Deno.test("SlackInteractivity answers 405, 413 and 400 for the wrong method, size and body", async () => {
  const { interactivity, got } = endpoint();
  equal((await interactivity.handle(new Request(URL))).status, 405);
  const huge = `payload=${"x".repeat(MAX_INTERACTION_BYTES)}`;
  equal((await interactivity.handle(await signed("secret-a", huge))).status, 413);
  equal((await interactivity.handle(await signed("secret-a", "text=hello"))).status, 400);
  equal(got, []);
});
