/**
 * End-to-end behaviour of the forward proxy over raw sockets: CONNECT tunnels with TLS inside,
 * requests written by hand, so every status, header and byte the agent sees is asserted as sent.
 *
 * Here: many agents at once, the connection metrics, and a stalled client not holding up others.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import { dialProxy, openTunnel } from "./_raw_http.ts";
import { RECEIPT, receiptsById, sleep, using } from "./_http_proxy_testing.ts";

Deno.test("100 agents with their own tunnels, 3 GETs each, all at once: 300 answers, 300 allow receipts", async () => {
  await withProxy({}, async (fx) => {
    const agents = Array.from({ length: 100 }, (_, i) => {
      const name = `agent-${i}`;
      return { name, token: fx.addAgent(name) };
    });
    await sleep(150); // The gateway re-reads the registry at most every 100 ms.
    const results = await Promise.all(agents.map(async ({ name, token }) => {
      const t = await openTunnel(fx, { agent: name, token });
      return await using(t, async (c) => {
        const out: string[] = [];
        for (let i = 0; i < 3; i++) {
          const res = await c.request({ method: "GET", target: `/${name}/${i}` }, 20_000);
          equal(res.status, 200, `${name} #${i}: ${res.text}`);
          out.push(JSON.parse(res.text).path);
        }
        return out;
      });
    }));
    equal(results.flat().length, 300);
    results.forEach((paths, i) => deepEqual(paths, [0, 1, 2].map((n) => `/agent-${i}/${n}`)));
    const rows = await fx.receipts();
    equal(rows.length, 300);
    ok(rows.every((r) => r.verdict === "allow" && r.upstreamStatus === 200));
    const perAgent = new Map<string, number>();
    for (const r of rows) perAgent.set(r.agent!, (perAgent.get(r.agent!) ?? 0) + 1);
    equal(perAgent.size, 100);
    ok([...perAgent.values()].every((n) => n === 3));
  });
});

Deno.test("/metrics counts denies by rule and open agent connections", async () => {
  await withProxy({}, async (fx) => {
    const metrics = async () => {
      const res = await fetch(`http://127.0.0.1:${fx.gateway.adminAddress.port}/metrics`);
      return await res.text();
    };
    await using(await openTunnel(fx), async (t) => {
      equal((await t.request({ method: "DELETE", target: "/a" })).status, 403);
      equal((await t.request({ method: "GET", target: "/b" })).status, 200);
      equal((await t.request({ method: "DELETE", target: "/c" })).status, 403);
      const open = await metrics();
      match(
        open,
        /^clawpatrol_actions_total\{protocol="https",verdict="deny",rule="no-deletes"\} 2$/m,
      );
      match(open, /^clawpatrol_actions_total\{protocol="https",verdict="allow",rule="reads"\} 1$/m);
      match(open, /^clawpatrol_open_connections\{protocol="https"\} 1$/m);
    });
    await fx.receipts();
    let last = "";
    for (let i = 0; i < 50; i++) {
      last = await metrics();
      if (/^clawpatrol_open_connections\{protocol="https"\} 0$/m.test(last)) break;
      await sleep(20);
    }
    match(last, /^clawpatrol_open_connections\{protocol="https"\} 0$/m);
  });
});

Deno.test("a client that stalls mid-head gets 408 after header_timeout while other clients are served", async () => {
  await withProxy({ limits: 'header_timeout = "500ms"' }, async (fx) => {
    const slow = await dialProxy(fx);
    await using(slow, async (s) => {
      const started = performance.now();
      await s.write("CONNECT api.test:443 HTTP/1.1\r\nHost: api.te");
      let timedOutAt = 0;
      const timedOut = s.readResponse().then((res) => {
        timedOutAt = performance.now();
        return res;
      });
      // Meanwhile a well-behaved agent is served, without waiting for the slow one.
      const res = await using(
        await openTunnel(fx),
        (t) => t.request({ method: "GET", target: "/meanwhile" }),
      );
      equal(res.status, 200);
      equal(timedOutAt, 0, "the other client was served only after the slow one timed out");
      const refused = await timedOut;
      equal(refused.status, 408);
      equal(JSON.parse(refused.text).error, "request_timeout");
      equal(refused.headers.get("connection"), "close");
      ok(
        timedOutAt - started >= 500,
        `408 after ${timedOutAt - started} ms, before header_timeout`,
      );
      deepEqual(await s.readToEnd(), new Uint8Array(0));
      const rows = await receiptsById(fx);
      equal(rows.get(refused.headers.get(RECEIPT)!)?.verdict, "deny");
      equal(rows.get(res.headers.get(RECEIPT)!)?.verdict, "allow");
    });
  });
});
