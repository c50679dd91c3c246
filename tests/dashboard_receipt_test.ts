/**
 * Receipt detail in a real browser: the decision, upstream answer and chain position; "Save as
 * fixture" gives YAML that `clawpatrol test` passes as is, for an allow, a deny and an approval,
 * and that fails once its expectation no longer holds.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_RULES, withProxy } from "./_proxy_fixture.ts";
import { cli, eventually } from "./_helpers.ts";
import { curlOutcome, curlPost } from "./_curl.ts";
import {
  adminBase,
  adminToken,
  BROWSER_TEST,
  screenshot,
  signIn,
  withBrowser,
} from "./_dashboard_browser.ts";
import type { Page } from "puppeteer-core";

const RULES = `
approver "human_approver" "ops" {
  timeout = "60s"
}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [human_approver.ops]
}
${DEFAULT_RULES}`;

/** The receipt page's fields, by their label. */
async function fields(page: Page): Promise<Record<string, string>> {
  return await page.$$eval(
    "#receipt dt",
    (dts) =>
      Object.fromEntries(
        dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ""]),
      ),
  );
}

/** Follows "Save as fixture" from the browser (with its session) and returns the YAML. */
async function saveFixture(page: Page): Promise<string> {
  const href = await page.$eval("#save-fixture", (a) => a.getAttribute("href")!);
  return await page.evaluate(async (url) => await (await fetch(url)).text(), href);
}

Deno.test({
  ...BROWSER_TEST,
  name:
    "receipt detail shows the decision and chain position; saved fixtures pass clawpatrol test as is",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "alice");
        await curlOutcome(curlPost(fx, { url: "https://api.test/echo", body: '{"n":1}' }));
        const deny = new Deno.Command("curl", {
          args: [
            "-sS",
            "-o",
            "/dev/null",
            "--proxy",
            fx.proxyUrl,
            "--cacert",
            fx.caFile,
            "-X",
            "DELETE",
            "https://api.test/x",
          ],
          clearEnv: true,
        });
        await deny.output();
        const held = curlPost(fx);
        const pending = await eventually("held", () => fx.gateway.approvalQueue.list()[0]);
        fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:tester");
        assertEquals((await curlOutcome(held)).status, 200);
        const receipts = await fx.receipts();
        const files: string[] = [];
        for (const receipt of receipts) {
          await page.goto(`${base}/ui/receipts/${receipt.id}`);
          const shown = await fields(page);
          assertEquals(shown["Chain position"], `seq ${receipt.seq}`);
          assertEquals(shown["Hash"], receipt.hash);
          assertEquals(shown["Rule"], receipt.rule);
          assertEquals(shown["Mode"], "enforce");
          const upstream = receipt.verdict === "deny" ? "not forwarded" : "status 200, ";
          assert(shown["Upstream"].startsWith(upstream), shown["Upstream"]);
          if (receipt.rule === "no-deletes") await screenshot(page, "receipt");
          const yaml = await saveFixture(page);
          assert(yaml.includes(`endpoint: api`), yaml);
          const file = join(fx.dir, `${receipt.id}.yaml`);
          await Deno.writeTextFile(file, yaml);
          files.push(file);
        }
        assertEquals(receipts.map((r) => r.rule), [
          "echo-posts",
          "no-deletes",
          "writes-need-approval",
        ]);
        const config = join(fx.dir, "gateway.hcl");
        const run = await cli(["-c", config, "test", ...files]);
        assertEquals(run.code, 0, run.stdout + run.stderr);
        assert(run.stdout.includes("3 passed, 0 failed"), run.stdout);
        // The held one expects `approve`; were the rule to stop asking, the fixture fails.
        const approval = await Deno.readTextFile(files[2]);
        assert(approval.includes("verdict: approve"), approval);
        await Deno.writeTextFile(files[2], approval.replace("verdict: approve", "verdict: allow"));
        const broken = await cli(["-c", config, "test", files[2]]);
        assertEquals(broken.code, 1, broken.stdout);
        assert(broken.stdout.includes("expected allow, got approve"), broken.stdout);
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name: "a gateway refusal (unknown host) has a receipt page but no fixture",
  fn: () =>
    withProxy({}, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "alice");
        await curlOutcome(curlPost(fx, { url: "https://nowhere.test/x" }));
        const [receipt] = await fx.receipts();
        assertEquals(receipt.endpoint, null);
        await page.goto(`${base}/ui/receipts/${receipt.id}`);
        assertEquals(await page.$("#save-fixture"), null);
        const res = await page.goto(`${base}/ui/receipts/${receipt.id}/fixture.yaml`);
        assertEquals(res?.status(), 404);
        const missing = await page.goto(`${base}/ui/receipts/rcpt_NOPE`);
        assertEquals(missing?.status(), 404);
      })),
});
