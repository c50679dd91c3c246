// The dashboard's Add agent on a shared store (issue 24): two `serve` processes on one
// PostgreSQL; an agent added in gateway A's dashboard is enrolled in the store, as `clawpatrol
// agent add` does there, so it works on A at once and on B within a second, and the CLI lists
// it; a name the CLI enrolled through B is refused in A's dashboard. The token shows in neither
// gateway's log.
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { postgresAvailable } from "./_postgres.ts";
import { eventually } from "./_helpers.ts";
import { getAs, serveGatewayPair, storeCli, withSharedStore } from "./_shared_store.ts";
import { adminToken, BROWSER_TEST, signIn, withBrowser } from "./_dashboard_browser.ts";

Deno.test({
  ...BROWSER_TEST,
  ignore: BROWSER_TEST.ignore || !postgresAvailable(),
  name: "store: an agent added in one gateway's dashboard is in the store and works on both",
  fn: async () => {
    await withSharedStore(async (t) => {
      const { dir, store, served } = t;
      const { b, gwA, gwB, caA, caB } = await serveGatewayPair(t);
      const taken = await storeCli(b, store, ["agent", "add", "cli-bot", "--profile", "bots"]);
      equal(taken.code, 0, taken.stderr);

      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        await signIn(page, gwA.admin, adminToken(join(dir, "a")), "alice");
        const add = async (name: string) => {
          await page.goto(`${gwA.admin}/ui/agents`);
          await page.type("#agent-name", name);
          await page.select("#agent-profile", "bots");
          const [res] = await Promise.all([
            page.waitForNavigation(),
            page.click("#add-agent button[type=submit]"),
          ]);
          return res?.status();
        };
        equal(await add("dash-bot"), 200);
        const token = await page.$eval("#agent-token", (e) => e.textContent ?? "");
        ok(token.startsWith("cpat_"), token);
        // At once where it was added; on the other gateway once the store's NOTIFY arrives.
        equal(await getAs(gwA, caA, "dash-bot", token), 200);
        await eventually(
          "dash-bot to work on gateway B",
          async () => await getAs(gwB, caB, "dash-bot", token) === 200 ? true : undefined,
          5_000,
          20,
        );
        const listed = await storeCli(b, store!, ["agent", "list"]);
        ok(/dash-bot +bots/.test(listed.stdout), listed.stdout);

        // Enrolled through B's CLI: A's dashboard refuses the name and shows no token.
        equal(await add("cli-bot"), 409);
        equal(await page.$("#agent-token"), null);
        const error = await page.$eval("#error", (e) => e.textContent ?? "");
        ok(error.includes("Agent 'cli-bot' already exists"), error);
        for (const gw of served) ok(!gw.gw.log.includes(token), "the token is in a log");
      });
    });
  },
});
