// Approver blocks: their settings, and the secrets each kind needs.

import { equal } from "node:assert/strict";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";

Deno.test("loadConfigText() checks approver settings", async () => {
  const text = `${HEAD}
approver "llm_approver" "judge" {
  provider = "skynet"
  role     = "king"
}
approver "webhook_approver" "hook" {
  url = "ftp://example.com"
}
approver "human_approver" "ops" {
  quorum     = 0
  credential = slack_tokens.missing
}
approver "robot_approver" "r" {
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, '"judge"'), /missing required attribute 'model'/);
  assertProblem(problems, lineOf(text, "provider"), /'provider' must be "anthropic" or "openai"/);
  assertProblem(problems, lineOf(text, "role"), /'role' must be "judge" or "deny_only"/);
  assertProblem(problems, lineOf(text, "url ="), /'url' must be an http\(s\) URL/);
  assertProblem(problems, lineOf(text, "quorum"), /'quorum' must be at least 1/);
  assertProblem(
    problems,
    lineOf(text, "credential = slack_tokens.missing"),
    /undefined credential 'slack_tokens\.missing'/,
  );
  assertProblem(problems, lineOf(text, '"robot_approver"'), /unknown approver kind/);
});

Deno.test("loadConfigText() refuses approvers that could not work: missing or wrong-kind secrets", async () => {
  const text = `${HEAD}
credential "api_key" "key" {}
credential "webhook_secret" "hook" {}
approver "webhook_approver" "unsigned" {
  url = "https://hooks.example/approve"
}
approver "webhook_approver" "wrong" {
  url        = "https://hooks.example/approve"
  credential = api_key.key
}
approver "llm_approver" "keyless" {
  provider = "anthropic"
  model    = "m"
}
approver "llm_approver" "badurl" {
  provider   = "openai"
  model      = "m"
  base_url   = "localhost:11434"
  credential = webhook_secret.hook
}
approver "llm_approver" "local" {
  provider = "openai"
  model    = "llama"
  base_url = "http://127.0.0.1:11434/v1"
}
approver "human_approver" "ops" {
  slack_channel = "#ops"
  credential    = api_key.key
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, '"unsigned"'), /missing required attribute 'credential'/);
  assertProblem(
    problems,
    lineOf(text, "credential = api_key.key"),
    /must be a webhook_secret credential, got 'api_key\.key'/,
  );
  assertProblem(
    problems,
    lineOf(text, '"keyless"'),
    /'credential' \(an api_key for the anthropic API/,
  );
  assertProblem(problems, lineOf(text, "base_url   ="), /'base_url' must be an http\(s\) URL/);
  assertProblem(
    problems,
    lineOf(text, "credential = webhook_secret"),
    /must be an api_key credential/,
  );
  assertProblem(
    problems,
    lineOf(text, "credential    = api_key.key"),
    /must be a slack_tokens credential/,
  );
  // A local OpenAI-compatible server needs no key.
  equal(problems.some((p) => p.line === lineOf(text, '"local"')), false);
});
