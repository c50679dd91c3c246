// `clawpatrol log fixture RCPT_ID…`: decisions the gateway took on real requests become fixtures
// `clawpatrol test` replays as they are, and that fail once the rules stop deciding the same.
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { cli, eventually } from "./_helpers.ts";
import { DEFAULT_RULES, withProxy } from "./_proxy_fixture.ts";
import { curlOutcome, curlPost } from "./_curl.ts";

async function curl(proxyUrl: string, caFile: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "-o", "/dev/null", "--proxy", proxyUrl, "--cacert", caFile, ...args],
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

Deno.test("receipts become fixtures that pass clawpatrol test, and catch a changed rule", async () => {
  await withProxy({}, async (fx) => {
    await curl(fx.proxyUrl, fx.caFile, "https://api.test/repos?page=2");
    await curl(fx.proxyUrl, fx.caFile, "-X", "DELETE", "https://api.test/repos/x");
    const receipts = await fx.receipts();
    const ids = ["GET api.test/repos", "DELETE api.test/repos/x"].map((s) =>
      receipts.find((r) => r.summary.startsWith(s))!.id
    );
    const config = join(fx.dir, "gateway.hcl");
    const made = await cli(["log", "fixture", ...ids, "-c", config]);
    equal(made.code, 0, made.stderr);
    match(made.stdout, /verdict: deny\n\s+rule: no-deletes/);
    const file = join(fx.dir, "pinned.yaml");
    await Deno.writeTextFile(file, made.stdout);
    const passed = await cli(["test", file, "-c", config]);
    equal(passed.code, 0, passed.stdout + passed.stderr);

    // Without the rule that denied the delete, the pinned case fails.
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(config, text.replace(/rule "no-deletes" \{[^}]*\}/, ""));
    const failed = await cli(["test", file, "-c", config]);
    equal(failed.code, 1, failed.stdout + failed.stderr);
    match(failed.stdout + failed.stderr, /DELETE api\.test\/repos\/x/);

    const missing = await cli(["log", "fixture", "rcpt_nope", "-c", config]);
    equal(missing.code, 1);
    match(missing.stderr, /no receipt rcpt_nope/);
  });
});

const TRIAL_RULES = `
approver "human_approver" "ops" {
  timeout = "60s"
}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [human_approver.ops]
}
rule "trial-no-puts" {
  endpoint  = https.api
  condition = "http.method == 'put'"
  verdict   = "deny"
  mode      = "observe"
}
${DEFAULT_RULES}`;

Deno.test("log fixture: observe-mode, approved, dry-run and cut-body receipts pass clawpatrol test as is", async () => {
  await withProxy({ rules: TRIAL_RULES }, async (fx) => {
    const config = join(fx.dir, "gateway.hcl");
    // An observe-mode rule that would deny: the action went through.
    await curl(fx.proxyUrl, fx.caFile, "-X", "PUT", "https://api.test/x");
    // Held, then approved by a person.
    const held = curlPost(fx);
    const pending = await eventually("held", () => fx.gateway.approvalQueue.list()[0]);
    fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:tester");
    equal((await curlOutcome(held)).status, 200);
    // A body longer than the receipt keeps: the cut is listed as unknown.
    await curl(fx.proxyUrl, fx.caFile, "-d", "x".repeat(6000), "https://api.test/echo");
    // Then a gateway-wide dry run: a delete and a held write, neither blocked.
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(config, text.replace("gateway {", 'gateway {\n  mode = "observe"'));
    equal(await fx.gateway.reload(), true);
    await curl(fx.proxyUrl, fx.caFile, "-X", "DELETE", "https://api.test/repos/x");
    equal((await curlOutcome(curlPost(fx))).status, 200);

    const receipts = await fx.receipts();
    const made = await cli(["log", "fixture", ...receipts.map((r) => r.id), "-c", config]);
    equal(made.code, 0, made.stderr);
    const cases = parse(made.stdout) as Record<string, unknown>[];
    deepEqual(cases.map((c) => c.expect), [
      { verdict: "allow", rule: "trial-no-puts" },
      { verdict: "approve", rule: "writes-need-approval" },
      { verdict: "allow", rule: "echo-posts" },
      { verdict: "deny", rule: "no-deletes" },
      { verdict: "approve", rule: "writes-need-approval" },
    ]);
    // The receipt's unknown list is the case's, not a fact family `clawpatrol test` would refuse.
    const cut = cases[2];
    equal("unknown" in (cut.facts as object), false);
    deepEqual((cut.unknown as string[]).includes("http.body"), true);
    const file = join(fx.dir, "pinned.yaml");
    await Deno.writeTextFile(file, made.stdout);
    const passed = await cli(["test", file, "-c", config]);
    equal(passed.code, 0, passed.stdout + passed.stderr);
    match(passed.stdout, /5 passed, 0 failed/);

    // Promoting the trial rule changes its pinned case: the fixture pinned what was decided.
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replace(/mode {6}= "observe"/, ""),
    );
    const promoted = await cli(["test", file, "-c", config]);
    equal(promoted.code, 1, promoted.stdout);
    match(promoted.stdout, /PUT api\.test\/x.*expected allow, got deny/);
  });
});
