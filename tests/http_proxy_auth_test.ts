/**
 * End-to-end behaviour of the forward proxy over raw sockets: CONNECT tunnels with TLS inside,
 * requests written by hand, so every status, header and byte the agent sees is asserted as sent.
 *
 * Here: proxy authentication, revoked agents, and endpoints outside the agent's profile.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { withProxy } from "./_proxy_fixture.ts";
import { connect, openTunnel } from "./_raw_http.ts";
import { RECEIPT, sleep, using } from "./_http_proxy_testing.ts";

Deno.test("CONNECT without credentials gets 407 with a Basic challenge and a receipt", async () => {
  await withProxy({}, async (fx) => {
    const { conn, response } = await connect(fx, { token: null });
    conn.close();
    equal(response.status, 407);
    equal(response.headers.get("proxy-authenticate"), 'Basic realm="clawpatrol"');
    const body = JSON.parse(response.text);
    equal(body.error, "proxy_authentication_required");
    equal(response.headers.get(RECEIPT), body.receipt);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "deny");
    equal(rows[0].agent, null);
    equal(fx.seen.length, 0);
  });
});

Deno.test("CONNECT with a wrong token gets 407 and the token is written nowhere", async () => {
  await withProxy({}, async (fx) => {
    const wrong = "wrong-token-3f9c1d2e7a";
    const { conn, response } = await connect(fx, { token: wrong });
    conn.close();
    equal(response.status, 407);
    equal(response.headers.get("proxy-authenticate"), 'Basic realm="clawpatrol"');
    ok(!response.text.includes(wrong));
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].verdict, "deny");
    ok(!JSON.stringify(rows).includes(wrong), "the token is in a receipt");
    ok(!JSON.stringify(fx.log.lines).includes(wrong), "the token is in the operator log");
    // The raw database files too (WAL included), not only what the query layer returns.
    const state = join(fx.dir, "state");
    for await (const entry of Deno.readDir(state)) {
      if (!entry.isFile) continue;
      const bytes = await Deno.readFile(join(state, entry.name));
      ok(!new TextDecoder("latin1").decode(bytes).includes(wrong), `the token is in ${entry.name}`);
    }
  });
});

Deno.test("a revoked agent gets 407 on a new CONNECT", async () => {
  await withProxy({}, async (fx) => {
    fx.registry.revoke("bot");
    await sleep(150); // The gateway re-reads the registry at most every 100 ms.
    const { conn, response } = await connect(fx);
    conn.close();
    equal(response.status, 407);
    equal(fx.seen.length, 0);
  });
});

Deno.test("a revoked agent's open tunnel is closed with a receipt, and its token refused at CONNECT", async () => {
  await withProxy({}, async (fx) => {
    await using(await openTunnel(fx), async (t) => {
      const first = await t.request({ method: "GET", target: "/before" });
      equal(first.status, 200);
      fx.registry.revoke("bot");
      // Once the gateway sees the revocation it cuts the tunnel, idle or not (no TLS goodbye).
      const rest = await t.readToEnd().catch((err: Error) => {
        if (err.name === "UnexpectedEof") return new Uint8Array(0);
        throw err;
      });
      deepEqual(rest, new Uint8Array(0), "closed by the gateway, nothing sent");
    });
    // A new tunnel with the revoked token is refused at CONNECT.
    const { conn, response } = await connect(fx, { authority: "api.test:443" });
    conn.close();
    equal(response.status, 407);
    deepEqual(fx.seen.map((s) => s.target), ["/before"]);
    const rows = await fx.receipts();
    equal(rows.filter((r) => r.verdict === "allow").length, 1);
    ok(rows.some((r) => r.summary === "session ended" && r.reason === "agent revoked"));
  });
});

Deno.test("CONNECT to an endpoint outside the agent's profile is refused naming the endpoint and the profile", async () => {
  await withProxy({}, async (fx) => {
    const { conn, response } = await connect(fx, { authority: "other.test:443" });
    conn.close();
    equal(response.status, 403);
    const body = JSON.parse(response.text);
    equal(body.error, "denied");
    equal(body.reason, "endpoint 'other' is not in profile 'bots'");
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].verdict, "deny");
    equal(rows[0].endpoint, "other");
    equal(fx.seen.length, 0);
  });
});
