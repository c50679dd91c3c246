import { deepStrictEqual as equal, ok } from "node:assert/strict";
import { SlackClients } from "./_slack_clients.ts";

function clients(vault: Record<string, string | Error>) {
  const logs: string[] = [];
  const slack = new SlackClients({
    secret: (name, slot) => {
      const value = vault[`${name}/${slot ?? "value"}`];
      if (value instanceof Error) return Promise.reject(value);
      return Promise.resolve(value ?? null);
    },
    log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
  });
  return { slack, logs };
}

Deno.test("SlackClients.token() trims a value and refuses one that is not header-safe, without logging it", async () => {
  const { slack, logs } = clients({
    "slack/bot": "  xoxb-1-2  ",
    "slack/app": "xapp bad token",
    "broken/bot": new Error("vault locked"),
  });
  equal(await slack.token("slack", "bot"), "xoxb-1-2");
  equal(await slack.token("slack", "app"), null);
  equal(await slack.token("slack", "signing"), null);
  equal(await slack.token("broken", "bot"), null);
  ok(logs.some((l) => l.includes("slot 'app' is not a usable token")));
  ok(logs.some((l) => l.includes("cannot read credential 'broken'") && l.includes("vault locked")));
  ok(!logs.some((l) => l.includes("xapp bad token")), "a token never reaches the log");
});

Deno.test("SlackClients.web() uses the bot slot, else the default slot, and reuses a client per token", async () => {
  const { slack, logs } = clients({ "a/bot": "xoxb-a", "b/value": "xoxb-b" });
  const a = await slack.web("a");
  ok(a);
  equal(await slack.web("a"), a);
  ok(await slack.web("b"));
  slack.clear();
  ok((await slack.web("a")) !== a, "a cleared client is made again");
  equal(await slack.web("none"), null);
  ok(logs.some((l) => l.includes("credential 'none' has no bot token")));
});

Deno.test("SlackClients.signingSecrets() lists the credentials that have a signing secret", async () => {
  const { slack } = clients({ "a/signing": "s-a", "c/signing": "s-c" });
  equal(await slack.signingSecrets(["a", "b", "c"]), [["a", "s-a"], ["c", "s-c"]]);
});
