/**
 * The five-minute start's dashboard step, followed as written: the README's commands hold a
 * write and print a one-time sign-in link; the link is opened in chromium, the operator types a
 * name, goes to Approvals and presses Approve; curl then gets the demo API's answer and the
 * receipt names `dashboard:<name>`.
 *
 * @module
 */

import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import type { Shell } from "./_readme.ts";
import { screenshot, waitInPage, withBrowser } from "./_dashboard_browser.ts";

const APPROVAL_ID = /apr_[0-9a-f]{20}/;
const OPERATOR = "newcomer";

/** Runs the `newcomer-dashboard` block's commands in `shell` (a quickstart running in it). */
export async function runDashboardStep(shell: Shell, commands: string[]): Promise<void> {
  equal(commands.length, 2, "the step is a held curl and `clawpatrol dashboard`");
  const [hold, dashboard] = commands;
  const title = hold.match(/"title":"([^"]+)"/)?.[1];
  ok(title, `the README's curl posts a title: ${hold}`);
  // The demo API's answer: the issue it created, with its id.
  const answered = (out: string) => new RegExp(`\\{"id":\\d+,"title":"${title}"\\}`).test(out);
  equal((await shell.run(hold)).status, 0);
  // The hold exists once curl's request reached the gateway: wait for that, not for a time.
  let id = "";
  const deadline = Date.now() + 60_000;
  while (!id && Date.now() < deadline) {
    id = (await shell.run("clawpatrol approvals list --json")).stdout.match(APPROVAL_ID)?.[0] ?? "";
  }
  ok(id, "the README's curl is held for approval");

  const printed = await shell.run(dashboard);
  equal(printed.status, 0, printed.stderr);
  const link = printed.stdout.match(/^Sign in: +(http:\/\/\S+\/ui\/signin#code=[A-Z0-9-]+)$/m)?.[1];
  ok(link, `clawpatrol dashboard prints a sign-in link:\n${printed.stdout}`);
  match(printed.stdout, /^One-time code \(works once, for 5 minutes\): [A-Z0-9-]+$/m);

  await withBrowser(async (browser) => {
    const page = await browser.newPage();
    await page.goto(link);
    // The link's fragment fills the code in; the reader types only a name.
    await waitInPage(page, `document.querySelector("#secret")?.value.length > 0`);
    await page.type("#name", OPERATOR);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    await Promise.all([page.waitForNavigation(), page.click('nav a[href="/ui/approvals"]')]);
    const section = `#${id}`;
    await page.waitForSelector(`${section} button.approve`);
    const shown = await page.$eval(section, (el) => el.textContent ?? "");
    ok(shown.includes("agent demo: POST api.demo.test/issues"), shown);
    await screenshot(page, "newcomer-approvals");
    ok(!answered(shell.output), `curl had an answer before the approval:\n${shell.output}`);
    await Promise.all([page.waitForNavigation(), page.click(`${section} button.approve`)]);
    const notice = await page.$eval("#result", (e) => e.textContent ?? "");
    ok(notice.startsWith("Approved"), notice);
  });

  // The demo API's answer reaches curl, and the receipt names the operator.
  await shell.waitFor("curl's answer", answered);
  const log = await shell.run("clawpatrol log --json");
  const rows = log.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  const approved = rows.filter((r) => r.rule === "demo-api-writes").at(-1);
  ok(approved, log.stdout);
  assertEquals(
    [approved.verdict, approved.rule, approved.summary],
    ["allow", "demo-api-writes", "POST api.demo.test/issues"],
  );
  assertEquals(
    approved.approvals.map((a: { decision: string; who: string }) => [a.decision, a.who]),
    [["allow", `dashboard:${OPERATOR}`]],
  );
}
