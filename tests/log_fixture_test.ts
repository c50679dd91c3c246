// `clawpatrol log fixture RCPT_ID…`: decisions the gateway took on real requests become fixtures
// `clawpatrol test` replays as they are, and that fail once the rules stop deciding the same.
import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { cli } from "./_helpers.ts";
import { withProxy } from "./_proxy_fixture.ts";

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
