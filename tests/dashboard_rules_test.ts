/// <reference lib="dom" />
// The callbacks handed to page.evaluate run in the browser: DOM types.

/**
 * "Block requests like this" and the Rules page in a real browser, against a running gateway:
 * a rule generated from a receipt is checked, refused while broken (every problem shown, nothing
 * written), then written and reloaded, and the next identical request is denied; an observe-mode
 * rule's would-be denies are listed with their receipts, and "Promote to enforce" makes the next
 * such request a deny. With writes off, nothing can be written and the page says how to allow it.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { DEFAULT_RULES, type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { curlOutcome, curlPost } from "./_curl.ts";
import {
  adminBase,
  adminToken,
  BROWSER_TEST,
  screenshot,
  signIn,
  withBrowser,
} from "./_dashboard_browser.ts";

const RULES = `
rule "trial-no-puts" {
  endpoint  = https.api
  condition = "http.method == 'put'"
  verdict   = "deny"
  reason    = "puts are on trial"
  mode      = "observe"
}
${DEFAULT_RULES}`;

/** curl through the gateway; the HTTP status. */
async function status(fx: ProxyFixture, method: string, url: string): Promise<number> {
  const out = await new Deno.Command("curl", {
    args: [
      ...["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--proxy", fx.proxyUrl],
      ...["--cacert", fx.caFile, "-X", method, url],
    ],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  }).output();
  return Number(new TextDecoder().decode(out.stdout));
}

/** Turns `dashboard_config_writes` on in the fixture's config and reloads it. */
async function allowWrites(fx: ProxyFixture): Promise<string> {
  const config = join(fx.dir, "gateway.hcl");
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    text.replace("gateway {", "gateway {\n  dashboard_config_writes = true"),
  );
  assert(await fx.gateway.reload());
  return config;
}

/** Clicks `selector` and waits for the page it leads to; its HTTP status. */
async function submit(page: Page, selector: string): Promise<number> {
  const [response] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return response?.status() ?? 0;
}

async function setRuleText(page: Page, text: string): Promise<void> {
  await page.$eval("#rule-text", (t, v) => (t as HTMLTextAreaElement).value = v, text);
}

async function textOf(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (e) => e.textContent ?? "");
}

async function latestReceiptId(fx: ProxyFixture, summary: string): Promise<string> {
  const receipts = await fx.receipts();
  return receipts.findLast((r) => r.summary.startsWith(summary))!.id;
}

Deno.test({
  ...BROWSER_TEST,
  name:
    "block requests like this: checked, refused while broken, written, and the next request is denied",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const config = await allowWrites(fx);
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "alice");
        assertEquals(
          (await curlOutcome(curlPost(fx, { url: "https://api.test/echo" }))).status,
          200,
        );
        const id = await latestReceiptId(fx, "POST api.test/echo");
        await page.goto(`${base}/ui/receipts/${id}`);
        const generated = await page.$eval("#rule-text", (t) => (t as HTMLTextAreaElement).value);
        const name = `block-api-${id.slice(-6).toLowerCase()}`;
        assert(generated.includes(`rule "${name}"`), generated);
        assert(generated.includes(`http.method == 'post' && http.path == '/echo'`), generated);
        assertEquals(await page.$("#writes-off"), null);

        assertEquals(await submit(page, "#check-rule"), 200);
        assert((await textOf(page, "#rule-result")).startsWith("Valid"));

        // Broken: an unknown fact, and a second rule whose name is taken. Every problem, by line.
        const before = await Deno.readTextFile(config);
        const taken = 'rule "reads" {\n  endpoint  = https.api\n  condition = "true"\n' +
          '  verdict   = "deny"\n}';
        await setRuleText(page, `${generated.replace("http.path", "http.pth")}\n${taken}`);
        assertEquals(await submit(page, "#check-rule"), 422);
        const problems = await page.$$eval(
          "#rule-problems li",
          (li) => li.map((l) => l.textContent),
        );
        assert(problems.some((p) => /^gateway\.hcl:\d+: .*duplicate rule name 'reads'/.test(p!)));
        assert(problems.some((p) => /^gateway\.hcl:\d+: .*pth/.test(p!)), problems.join("\n"));
        assertEquals(await submit(page, "#write-rule"), 422);
        assertEquals(await Deno.readTextFile(config), before, "a refused write writes nothing");
        await screenshot(page, "block-refused");

        await setRuleText(page, generated);
        assertEquals(await submit(page, "#write-rule"), 200);
        assertEquals(new URL(page.url()).pathname, "/ui/rules");
        assert((await textOf(page, "#rule-result")).includes("reloaded"));
        const written = await Deno.readTextFile(config);
        assert(written.startsWith(before), "appended, nothing else changed");
        assert(written.includes(`# Added by dashboard:alice from receipt ${id}`), written);
        assert(await page.$(`[data-rule="${name}"]`), "the new rule is listed");

        // The next identical request is denied by the written rule.
        const denied = await curlOutcome(curlPost(fx, { url: "https://api.test/echo" }));
        assertEquals(denied.status, 403);
        assertEquals(JSON.parse(denied.body).rule, name);
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name:
    "rules page: an observe rule's would-be denies, then Promote to enforce denies the next one",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const config = await allowWrites(fx);
        assertEquals(await status(fx, "PUT", "https://api.test/a"), 200);
        assertEquals(await status(fx, "PUT", "https://api.test/b"), 200);
        assertEquals(await status(fx, "GET", "https://api.test/c"), 200);
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "bob");
        await page.goto(`${base}/ui/rules`);
        const trial = '[data-rule="trial-no-puts"]';
        assertEquals(await textOf(page, `${trial} .would-deny-count`), "2");
        assertEquals(await textOf(page, `${trial} .agents-count`), "1");
        const examples = await page.$$eval(`${trial} .examples a`, (a) =>
          a.map((e) => e.textContent));
        assertEquals(examples, [
          await latestReceiptId(fx, "PUT api.test/a"),
          await latestReceiptId(fx, "PUT api.test/b"),
        ]);
        // The chart: one bar's allow part for the reads rule, titled with its counts.
        assertEquals(await textOf(page, '[data-rule="reads"] .allow-count'), "1");
        assert(await page.$('[data-rule="reads"] svg.chart rect.allow'));
        await screenshot(page, "rules");

        assertEquals(await submit(page, `${trial} button.promote`), 200);
        assert((await textOf(page, "#rule-result")).includes("enforce"));
        const text = await Deno.readTextFile(config);
        assert(/rule "trial-no-puts" \{[^}]*mode {6}= "enforce"/.test(text), text);
        assertEquals(await page.$(`${trial} button.promote`), null, "nothing left to promote");
        assertEquals(await status(fx, "PUT", "https://api.test/a"), 403);
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name: "with writes off, or without the CSRF token, or signed out, nothing is written",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const config = join(fx.dir, "gateway.hcl");
        const before = await Deno.readTextFile(config);
        assertEquals(await status(fx, "DELETE", "https://api.test/x"), 403);
        const id = await latestReceiptId(fx, "DELETE api.test/x");
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "carol");
        await page.goto(`${base}/ui/receipts/${id}`);
        // Writes off: the rule to copy, how to allow writes, and no write button.
        assert((await textOf(page, "#writes-off")).includes("dashboard_config_writes = true"));
        assertEquals(await page.$("#write-rule"), null);
        assertEquals(await submit(page, "#check-rule"), 200);

        // Posting a write anyway (the form's own token): refused, saying why.
        const posted = await page.evaluate(async (receipt) => {
          const csrf = document.querySelector("main")!.dataset.csrf!;
          const rule = (document.querySelector("#rule-text") as HTMLTextAreaElement).value;
          const post = (url: string, body: Record<string, string>) =>
            fetch(url, { method: "POST", body: new URLSearchParams(body) }).then(async (
              r,
            ) => [r.status, await r.text()]);
          return [
            await post(`/ui/receipts/${receipt}/block`, { csrf, rule, action: "write" }),
            await post("/ui/rules/trial-no-puts/promote", { csrf }),
            await post(`/ui/receipts/${receipt}/block`, { rule, action: "write" }),
            await post("/ui/rules/trial-no-puts/promote", {}),
            // A malformed escape in the name: no such rule, not a failed request.
            await post("/ui/rules/%E0%A4%A/promote", { csrf }),
          ];
        }, id);
        assertEquals(posted.map(([s]) => s), [403, 403, 403, 403, 403]);
        assert(String(posted[0][1]).includes("dashboard_config_writes = true"));
        assert(String(posted[1][1]).includes("dashboard_config_writes = true"));
        assert(String(posted[2][1]).includes("CSRF"));

        // Signed out: the sign-in page, nothing else.
        for (const path of [`/ui/receipts/${id}/block`, "/ui/rules/trial-no-puts/promote"]) {
          const res = await fetch(`${base}${path}`, {
            method: "POST",
            body: new URLSearchParams({ rule: "x", action: "write" }),
          });
          assertEquals(res.status, 401);
          assert((await res.text()).includes('id="secret"'));
        }
        const res = await fetch(`${base}/ui/rules`);
        assertEquals(res.status, 401);
        await res.body?.cancel();
        assertEquals(await Deno.readTextFile(config), before);
        assertEquals(await status(fx, "PUT", "https://api.test/a"), 200, "still observe");
      })),
});
