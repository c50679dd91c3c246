/**
 * The Health page in a real browser: the receipt chain's `log verify` status next to the
 * gateway's readings; and the favicon every browser asks for is an empty answer, not a 404.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import {
  adminBase,
  adminToken,
  BROWSER_TEST,
  screenshot,
  signIn,
  withBrowser,
} from "./_dashboard_browser.ts";

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
