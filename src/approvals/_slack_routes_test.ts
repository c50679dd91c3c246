import { deepStrictEqual as equal } from "node:assert/strict";
import { loadConfigText } from "../config/mod.ts";
import { slackRoutes } from "./_slack_routes.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("slackRoutes() reads channel, credential, allow-list and timeouts from the config", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `schema_version = 1
defaults {
  human_timeout    = 120
  human_on_timeout = "allow"
}
credential "slack_tokens" "slack" {}
approver "human_approver" "ops" {
  slack_channel = "C0123"
  credential    = slack_tokens.slack
  approvers     = ["U1"]
}
approver "human_approver" "dbas" {
  slack_channel = "#dbas"
}
approver "human_approver" "cli_only" {}
approver "human_approver" "open" {
  slack_channel = "#everyone"
  credential    = slack_tokens.slack
}
`,
    { protocols: PROTOCOLS },
  );
  const { routes, warnings } = slackRoutes(config);
  equal(routes.slice(0, 1), [{
    approver: "human_approver.ops",
    channel: "C0123",
    credential: "slack",
    approvers: ["U1"],
    timeoutMs: 120_000,
    onTimeout: "allow",
  }]);
  equal(routes.map((r) => [r.approver, r.approvers]), [
    ["human_approver.ops", ["U1"]],
    ["human_approver.open", []],
  ]);
  equal(warnings, [
    "approver 'human_approver.dbas' has slack_channel but no 'credential = slack_tokens.NAME': " +
    "not posting to Slack (the CLI queue still works)",
    "approver 'human_approver.open' has no 'approvers' list: anyone who can click in #everyone " +
    "may decide",
  ]);
});
