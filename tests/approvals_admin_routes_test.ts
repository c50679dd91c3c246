/**
 * The admin listener over real HTTP: approval decisions need the admin token, while a webhook's
 * callback and Slack's interactivity requests authenticate with their own signatures instead.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { withProxy } from "./_proxy_fixture.ts";

Deno.test("the admin listener: /approvals needs the token; signed callback routes do not", async () => {
  await withProxy({}, async (fx) => {
    const { hostname, port } = fx.gateway.adminAddress;
    const base = `http://${hostname}:${port}`;
    const token = (await Deno.readTextFile(join(fx.dir, "state", "admin.token"))).trim();

    const anonymous = await fetch(`${base}/approvals`);
    assertEquals(anonymous.status, 401);
    await anonymous.body?.cancel();
    const listed = await fetch(`${base}/approvals`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assertEquals([listed.status, await listed.json()], [200, { approvals: [] }]);

    // Unsigned callbacks are refused by their own signature checks, not by the admin token:
    // the answer is the route's, and no admin token is asked for.
    const hook = await fetch(`${base}/approvals/webhook`, {
      method: "POST",
      body: JSON.stringify({ id: "apr_x", fingerprint: "0", decision: "allow" }),
    });
    assertEquals(hook.status, 401);
    assert(!hook.headers.has("www-authenticate"), "the webhook route asked for the admin token");
    await hook.body?.cancel();
    const slack = await fetch(`${base}/slack/interactivity`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "payload=%7B%7D",
    });
    assertEquals(slack.status, 401);
    assert(!slack.headers.has("www-authenticate"), "the Slack route asked for the admin token");
    await slack.body?.cancel();
  });
});
