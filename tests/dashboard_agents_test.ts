/// <reference lib="dom" />
// The callbacks handed to page.evaluate run in the browser: DOM types.

/**
 * Enrolling an agent from the dashboard, in a real browser: the token is shown once, in the
 * answer to the form, and works at once; it is in no later page, the gateway's log or a receipt.
 * A taken name, an unknown profile, an invalid name, a form without the CSRF token and a post
 * without a session are each refused and enrol nothing.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { curlOutcome, curlPost } from "./_curl.ts";
import {
  adminBase,
  adminToken,
  BROWSER_TEST,
  screenshot,
  signIn,
  withBrowser,
} from "./_dashboard_browser.ts";

/** Fills the add form (after `tamper` runs in the page, for forged forms) and submits it. */
async function submitAdd(
  page: Page,
  base: string,
  name: string,
  tamper?: (form: Element) => void,
) {
  await page.goto(`${base}/ui/agents`);
  await page.waitForSelector("#add-agent");
  if (tamper) await page.$eval("#add-agent", tamper);
  await page.type("#agent-name", name);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.click("#add-agent button[type=submit]"),
  ]);
  return { status: response?.status(), text: await page.$eval("body", (b) => b.textContent!) };
}

function names(fx: ProxyFixture): string[] {
  return fx.registry.list().map((a) => a.name);
}

Deno.test({
  ...BROWSER_TEST,
  name: "an agent added in the dashboard gets its token once, and it works at once",
  fn: () =>
    withProxy({}, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "alice");
        await page.goto(`${base}/ui/agents`);
        const offered = await page.$$eval("#agent-profile option", (os) => os.map((o) => o.value));
        assertEquals(offered, ["bots", "others"]);
        await page.select("#agent-profile", "bots");
        const added = await submitAdd(page, base, "ci-bot");
        assertEquals(added.status, 200, added.text);
        const token = await page.$eval("#agent-token", (e) => e.textContent ?? "");
        assert(/^cpat_\S{20,}$/.test(token), `a token is shown: '${token}'`);
        assert(/shown only\s+this once/.test(added.text), added.text);
        await screenshot(page, "agents-added");

        // It works at once, as that agent.
        const proxyUrl = `http://ci-bot:${token}@127.0.0.1:${fx.proxyPort}`;
        const curl = await curlOutcome(
          curlPost({ proxyUrl, caFile: fx.caFile }, { url: "https://api.test/echo" }),
        );
        assertEquals(curl.status, 200, curl.body);
        const receipts = await fx.receipts();
        assertEquals(receipts.at(-1)?.agent, "ci-bot");

        // Never again: not on the page, not in the log, not in a receipt.
        await page.goto(`${base}/ui/agents`);
        const later = await page.content();
        assert(!later.includes(token), "the agents page shows the token again");
        const listed = await page.$$eval(
          "#agents tbody tr",
          (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent?.trim() ?? "")),
        );
        // Name, profile, enrolled, last seen (its latest decision), status.
        assertEquals(listed.map((r) => [r[0], r[1], r[3], r[4]]), [
          [fx.agent, "bots", "not in the last 1000 decisions", "active"],
          ["ci-bot", "bots", receipts.at(-1)!.time.toISOString(), "active"],
        ]);
        assertEquals(await page.$("#agent-token"), null);
        assert(!JSON.stringify(fx.log.lines).includes(token), "the token is in the log");
        assert(
          fx.log.lines.some((l) => l.message.includes("dashboard:alice added agent 'ci-bot'")),
          "the operator is logged",
        );
        assert(!JSON.stringify(receipts).includes(token), "the token is in a receipt");
        assert(!(await Deno.readTextFile(`${fx.dir}/state/agents.json`)).includes(token));
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name:
    "adding an agent is refused, enrolling nothing, for a taken name, an unknown profile, an invalid name, no CSRF token or no session",
  fn: () =>
    withProxy({}, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "alice");
        const before = names(fx);

        // The fixture's own agent: a taken name.
        const taken = await submitAdd(page, base, fx.agent);
        assertEquals(taken.status, 409);
        assert(taken.text.includes(`Nothing was added: Agent '${fx.agent}' already exists`));
        assertEquals(await page.$("#agent-token"), null);

        // A forged form naming a profile the config lacks.
        const unknown = await submitAdd(page, base, "ghost", (form) => {
          const select = form.querySelector("select")!;
          select.innerHTML = '<option value="admins">admins</option>';
        });
        assertEquals(unknown.status, 400);
        assert(unknown.text.includes("Unknown profile 'admins'"), unknown.text);

        // A name the registry refuses (the form's own pattern taken off); shown as text.
        const invalid = await submitAdd(page, base, "<b>Bad</b>", (form) => {
          form.querySelector("#agent-name")!.removeAttribute("pattern");
        });
        assertEquals(invalid.status, 400);
        assert(invalid.text.includes("Invalid agent name '<b>Bad</b>'"), invalid.text);
        assertEquals(await page.$("#error b"), null);

        // The form without its CSRF token.
        const noCsrf = await submitAdd(page, base, "sneaky", (form) => {
          form.querySelector("input[name=csrf]")!.remove();
        });
        assertEquals(noCsrf.status, 403);
        assert(noCsrf.text.includes("CSRF"), noCsrf.text);

        // No session at all.
        const anonymous = await fetch(`${base}/ui/agents`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
          body: new URLSearchParams({ name: "anon", profile: "bots" }),
        });
        await anonymous.body?.cancel();
        assertEquals(anonymous.status, 401);

        assertEquals(names(fx), before);
        assert(!fx.log.lines.some((l) => l.message.includes("added agent")));
      })),
});
