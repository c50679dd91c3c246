/**
 * Request smuggling and policy evasion through the running forward proxy, with raw bytes no HTTP
 * library would send. Each case asserts the gateway's answer, that nothing it refused reached the
 * upstream, and that the refusal left a deny receipt.
 */

// Slow clients: a head or body that trickles or stalls is cut off with 408 after its deadline,
// while other agents are served.

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import { openProxy, openTunnel } from "./_raw_tunnel.ts";
import { assertRefused, get, post, sleep } from "./_smuggling_fixture.ts";

Deno.test("a slow client trickling its head gets 408 after header_timeout while other agents are served", async () => {
  await withProxy({ limits: 'header_timeout = "300ms"' }, async (fx) => {
    const token = fx.addAgent("bot2");
    await sleep(150); // The gateway re-reads the registry at most every 100 ms.
    const slow = await openTunnel(fx);
    try {
      const started = performance.now();
      await slow.send("GET /slow HTTP/1.1\r\nHost: api.test\r\n");
      // Another agent on its own connection is served while the slow head is pending.
      const other = await openTunnel(fx, { agent: "bot2", token });
      try {
        await other.send(get("/fast"));
        const res = await other.readResponse();
        equal(res.status, 200, res.body);
      } finally {
        await other.close();
      }
      // Trickling a byte at a time must not extend the deadline (it runs from the first byte).
      while (!slow.closed && performance.now() - started < 2_000) {
        await slow.trySend("x");
        await sleep(50);
      }
      const res = await slow.readResponse({ timeoutMs: 100 });
      const elapsed = performance.now() - started;
      const body = await assertRefused(fx, res, 408);
      match(body.reason, /not received in time/);
      ok(elapsed < 2_000, `408 after ${Math.round(elapsed)} ms`);
      ok(await slow.waitClosed(1_000), "the gateway closes the slow connection");
      deepEqual(fx.seen.map((r) => r.target), ["/fast"]);
    } finally {
      await slow.close();
    }
  });
});

Deno.test("a slow CONNECT head on the proxy port gets 408 after header_timeout", async () => {
  await withProxy({ limits: 'header_timeout = "300ms"' }, async (fx) => {
    const p = await openProxy(fx);
    try {
      const started = performance.now();
      await p.send("CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n");
      const res = await p.readResponse({ timeoutMs: 2_000 });
      ok(performance.now() - started < 2_000);
      await assertRefused(fx, res, 408);
      ok(await p.waitClosed(1_000));
    } finally {
      await p.close();
    }
  });
});

// Regression: body reads had no deadline, so a client could stall mid-body (R.U.D.Y.) forever.
Deno.test({
  name: "a request body that stalls is cut off with 408 like a slow head",
  fn: async () => {
    const limits = 'header_timeout = "300ms"\n    idle_timeout = "500ms"';
    await withProxy({ limits }, async (fx) => {
      const t = await openTunnel(fx);
      try {
        await t.send(post("Content-Length: 100\r\n", "hello"));
        const res = await t.readResponse({ timeoutMs: 2_000 });
        await assertRefused(fx, res, 408);
        ok(await t.waitClosed(1_000), "the gateway closes the stalled connection");
        equal(fx.seen.length, 0);
      } finally {
        await t.close();
      }
    });
  },
});
