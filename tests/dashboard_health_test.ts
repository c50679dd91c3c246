/**
 * The Health page in a real browser: the receipt chain's `log verify` status next to the
 * gateway's readings, each endpoint's upstream errors and latency; and the favicon every browser
 * asks for is an empty answer, not a 404.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { eventually } from "./_helpers.ts";
import {
  adminBase,
  adminToken,
  BROWSER_TEST,
  screenshot,
  signIn,
  withBrowser,
} from "./_dashboard_browser.ts";

/** One GET through the proxy; curl itself must succeed (whatever the status). */
async function get(fx: ProxyFixture, path: string) {
  const curl = await new Deno.Command("curl", {
    args: ["-sS", "-o", "/dev/null", "--proxy", fx.proxyUrl, "--cacert", fx.caFile]
      .concat(`https://api.test${path}`),
    clearEnv: true,
  }).output();
  assertEquals(curl.code, 0, new TextDecoder().decode(curl.stderr));
}

Deno.test({
  ...BROWSER_TEST,
  name: "the health page shows each endpoint's upstream errors and latency",
  fn: () =>
    withProxy({
      handler: async (req) => {
        const path = new URL(req.url).pathname;
        // The upstream itself is slow here: what the latency column must show.
        if (path === "/slow") await new Promise((resolve) => setTimeout(resolve, 300));
        return new Response(path, { status: path === "/fail" ? 503 : 200 });
      },
    }, (fx) =>
      withBrowser(async (browser) => {
        for (const path of ["/one", "/slow", "/fail"]) await get(fx, path);
        // Each outcome is committed after curl has its answer: wait for the three.
        await eventually("the three outcomes committed", async () => {
          const done = (await fx.receipts()).filter((r) => r.upstreamStatus !== null);
          return done.length === 3 ? true : undefined;
        });
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "erin");
        await page.goto(`${base}/ui/health`);
        const rows = await page.$$eval(
          "#upstreams tbody tr",
          (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent?.trim() ?? "")),
        );
        assertEquals(rows.length, 1, JSON.stringify(rows));
        const [endpoint, forwarded, errors, , p95, lastError] = rows[0];
        assertEquals([endpoint, forwarded, errors, lastError], ["api", "3", "1", "HTTP 503"]);
        assert(Number(p95.replace(" ms", "")) >= 300, `p95 ${p95} includes the slow request`);
        await screenshot(page, "health-upstreams");
      })),
});

Deno.test({
  ...BROWSER_TEST,
  name: "the health page shows the receipt chain verified; /favicon.ico is an empty 204",
  fn: () =>
    withProxy({}, (fx) =>
      withBrowser(async (browser) => {
        const curl = await new Deno.Command("curl", {
          args: ["-sS", "-o", "/dev/null", "--proxy", fx.proxyUrl, "--cacert", fx.caFile]
            .concat("https://api.test/one"),
          clearEnv: true,
        }).output();
        assertEquals(curl.code, 0);
        const receipts = await fx.receipts();
        assert(receipts.length >= 1);
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        await signIn(page, base, adminToken(fx.dir), "erin");
        await page.goto(`${base}/ui/health`);
        const chain = await page.$$eval(
          "#health tr",
          (rows) =>
            rows.find((r) => r.querySelector("th")?.textContent === "Receipt chain")
              ?.querySelector("td")?.textContent?.trim() ?? "",
        );
        assert(chain.startsWith(`intact: ${receipts.length} receipts verified`), chain);
        await screenshot(page, "health");

        const favicon = await fetch(`${base}/favicon.ico`);
        assertEquals(favicon.status, 204);
        assertEquals(await favicon.text(), "");
      })),
});
