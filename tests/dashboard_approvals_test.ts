/// <reference lib="dom" />
// The callbacks handed to page.evaluate run in the browser: DOM types.

/**
 * Approving in the dashboard, in a real browser: a curl held by an approval rule gets its
 * upstream's answer once an operator approves it there, and the receipt names that operator;
 * approving and denying work with the keyboard alone, and a deny carries the operator's reason to
 * the agent.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { DEFAULT_RULES, type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { eventually } from "./_helpers.ts";
import { curlOutcome, curlPost } from "./_curl.ts";
import {
  adminBase,
  adminToken,
  BROWSER_TEST,
  screenshot,
  signIn,
  waitInPage,
  withBrowser,
} from "./_dashboard_browser.ts";

const RULES = `
approver "human_approver" "ops" {
  timeout = "60s"
}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [human_approver.ops]
  reason    = "writes need a human"
}
${DEFAULT_RULES}`;

async function pendingOne(fx: ProxyFixture) {
  return await eventually("a held request in the approval queue", () => {
    const list = fx.gateway.approvalQueue.list();
    return list.length === 1 ? list[0] : undefined;
  });
}

Deno.test({
  ...BROWSER_TEST,
  name:
    "a held curl approved in the dashboard gets the upstream's answer; the receipt names the operator",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "alice");
        const curl = curlPost(fx, { body: '{"note":"deploy <b>v2</b>"}' });
        const pending = await pendingOne(fx);
        await page.goto(`${base}/ui/approvals`);
        const section = `#${pending.request.id}`;
        await page.waitForSelector(section);
        const text = await page.$eval(section, (el) => el.textContent ?? "");
        assert(text.includes("agent bot: POST api.test/write"), text);
        assert(text.includes("human_approver.ops"), "the stage it waits on");
        assert(text.includes("0 of 1 approvals"), "quorum progress");
        assert(/\d+s/.test(await page.$eval(`${section} time.countdown`, (e) => e.textContent!)));
        // The body's markup is shown as text inside the facts, never parsed.
        assertEquals(await page.$$(`${section} b`), []);
        assert(text.includes("deploy <b>v2</b>"), "facts shown as text");
        await screenshot(page, "approvals");
        assertEquals(fx.seen.length, 0, "the upstream saw the request before it was approved");
        await page.type(`${section} input[name=reason]`, "planned release");
        await Promise.all([page.waitForNavigation(), page.click(`${section} button.approve`)]);
        const notice = await page.$eval("#result", (e) => e.textContent ?? "");
        assert(notice.startsWith("Approved"), notice);
        const result = await curlOutcome(curl);
        assertEquals(result.status, 200, result.body);
        assertEquals(fx.seen.map((r) => r.method), ["POST"]);
        const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
        assertEquals(receipt.verdict, "allow");
        assertEquals(receipt.approvals.map((a) => [a.approver, a.decision, a.who]), [
          ["human_approver.ops", "allow", "dashboard:alice"],
        ]);
        assert(fx.log.lines.some((l) => l.message.includes("by dashboard:alice")), "operator log");
        // Decided: it left the queue, and the page says so; the history names who and why.
        await page.goto(`${base}/ui/approvals`);
        await page.waitForSelector("#none");
        const history = await page.$$eval(
          "#history tbody tr",
          (rows) =>
            rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent?.trim())),
        );
        assertEquals(history.length, 1);
        assertEquals(history[0].slice(1), [
          "agent bot: POST api.test/write",
          "approved",
          "dashboard:alice (allow)",
          "planned release",
        ]);
        const link = await page.$eval("#history a", (a) => a.getAttribute("href"));
        assertEquals(link, `/ui/receipts/${receipt.id}`);
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name: "keyboard only: Tab to the reason, type it, Tab to Deny, Enter; the agent gets that reason",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "bob");
        const curl = curlPost(fx);
        const pending = await pendingOne(fx);
        await page.goto(`${base}/ui/approvals`);
        const reasonId = `${pending.request.id}-reason`;
        // From the top of the page, Tab until the reason field has focus (skip link, nav,
        // sign-out, the facts' summary come first); bounded, so a trap fails the test.
        for (let i = 0; i < 30; i++) {
          if (await page.evaluate(() => document.activeElement?.id ?? "") === reasonId) break;
          await page.keyboard.press("Tab");
        }
        assertEquals(await page.evaluate(() => document.activeElement?.id), reasonId);
        // The label names the field for a screen reader.
        assertEquals(await page.$eval(`label[for="${reasonId}"]`, (e) => e.textContent), "Reason");
        await page.keyboard.type("not during the freeze");
        await page.keyboard.press("Tab"); // Approve
        await page.keyboard.press("Tab"); // Deny
        assertEquals(await page.evaluate(() => document.activeElement?.textContent), "Deny");
        await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
        await waitInPage(
          page,
          `document.querySelector("#result")?.textContent.startsWith("Denied")`,
        );
        const result = await curlOutcome(curl);
        assertEquals(result.status, 403);
        assertEquals(JSON.parse(result.body).reason, "not during the freeze");
        assertEquals(fx.seen.length, 0);
        const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
        assertEquals(receipt.approvals.map((a) => [a.decision, a.who]), [[
          "deny",
          "dashboard:bob",
        ]]);
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name: "keyboard only: Tab to Approve, Enter; the held curl gets the upstream's answer",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "frank");
        const curl = curlPost(fx);
        const pending = await pendingOne(fx);
        await page.goto(`${base}/ui/approvals`);
        await page.waitForSelector(`#${pending.request.id}`);
        const approve = `#${pending.request.id} button.approve`;
        // Only Tab from the top of the page; bounded, so a focus trap fails the test.
        const focused = () => page.$eval(approve, (b) => b === document.activeElement);
        for (let i = 0; i < 30 && !await focused(); i++) await page.keyboard.press("Tab");
        assert(await focused(), "Tab reaches the Approve button");
        assertEquals(fx.seen.length, 0);
        await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
        const notice = await page.$eval("#result", (e) => e.textContent ?? "");
        assert(notice.startsWith("Approved"), notice);
        const result = await curlOutcome(curl);
        assertEquals(result.status, 200, result.body);
        assertEquals(fx.seen.map((r) => r.method), ["POST"]);
        const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
        assertEquals(receipt.approvals.map((a) => [a.decision, a.who]), [[
          "allow",
          "dashboard:frank",
        ]]);
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name:
    "the approvals page shows a request held after it was opened (live), and one decided elsewhere leaves",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "carol");
        await page.goto(`${base}/ui/approvals`);
        await page.waitForSelector("#none");
        const curl = curlPost(fx);
        const pending = await pendingOne(fx);
        await page.waitForSelector(`#${pending.request.id}`, { timeout: 15_000 });
        fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:dave");
        await page.waitForSelector("#none", { timeout: 15_000 });
        assertEquals((await curlOutcome(curl)).status, 200);
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name:
    "a decision made while the approvals page was loading (before its live stream opened) still clears it",
  fn: () =>
    withProxy({ rules: RULES }, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "erin");
        const curl = curlPost(fx);
        const pending = await pendingOne(fx);
        // Hold the page's live stream until the request was decided elsewhere: the page then
        // shows a request that is no longer waiting, and no change event will ever say so.
        const streamHeld = Promise.withResolvers<void>();
        let released = false;
        const decided = Promise.withResolvers<void>();
        await page.setRequestInterception(true);
        page.on("request", (request) => {
          if (!request.url().includes("/ui/api/feed") || released) {
            return void request.continue();
          }
          streamHeld.resolve();
          decided.promise.then(() => request.continue());
        });
        await page.goto(`${base}/ui/approvals`);
        await page.waitForSelector(`#${pending.request.id}`);
        await streamHeld.promise;
        fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:frank");
        assertEquals((await curlOutcome(curl)).status, 200);
        released = true;
        decided.resolve();
        await page.waitForSelector("#none", { timeout: 15_000 });
      })),
});
