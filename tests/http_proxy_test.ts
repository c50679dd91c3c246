/**
 * End-to-end behaviour of the forward proxy over raw sockets: CONNECT tunnels with TLS inside,
 * requests written by hand, so every status, header and byte the agent sees is asserted as sent.
 *
 * Here: allowed and denied requests, kept-alive tunnels, streamed and large bodies, upstream
 * failures, and plain http:// to an https endpoint.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { DEFAULT_RULES, withProxy } from "./_proxy_fixture.ts";
import { openTunnel, sha256 } from "./_raw_http.ts";
import { RECEIPT, receiptsById, sleep, using } from "./_http_proxy_testing.ts";

Deno.test("an allowed GET reaches the upstream without Proxy-Authorization and its receipt records status, bytes and latency", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(await openTunnel(fx), (t) =>
      t.request({
        method: "GET",
        target: "/hello?x=1",
        // Some clients repeat the proxy credentials inside the tunnel: they must not leak on.
        headers: [["Proxy-Authorization", `Basic ${btoa(`bot:${fx.token}`)}`]],
      }));
    equal(res.status, 200, res.text);
    const body = JSON.parse(res.text);
    equal(body.path, "/hello");
    equal(body.query, "?x=1");
    equal(body.host, "api.test");
    equal(fx.seen.length, 1);
    equal(fx.seen[0].headers.get("proxy-authorization"), null);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    const [r] = rows;
    equal(r.id, res.headers.get(RECEIPT));
    equal(r.verdict, "allow");
    equal(r.rule, "reads");
    equal(r.agent, "bot");
    equal(r.profile, "bots");
    equal(r.upstreamStatus, 200);
    ok(r.bytesOut > 0, `bytesOut ${r.bytesOut}`);
    equal(r.bytesOut, res.body.length);
    ok(r.latencyMs > 0, `latencyMs ${r.latencyMs}`);
  });
});

Deno.test("a denied DELETE gets the 403 JSON deny shape and never reaches the upstream", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "DELETE", target: "/repos/1" }),
    );
    equal(res.status, 403);
    equal(res.headers.get("content-type"), "application/json");
    const body = JSON.parse(res.text);
    deepEqual(Object.keys(body).sort(), ["error", "reason", "receipt", "rule"]);
    equal(body.error, "denied");
    equal(body.reason, "deletes are not allowed");
    equal(body.rule, "no-deletes");
    match(body.receipt, /^rcpt_/);
    equal(res.headers.get(RECEIPT), body.receipt);
    equal(fx.seen.length, 0);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "deny");
    equal(rows[0].rule, "no-deletes");
  });
});

Deno.test("one kept-alive tunnel carries allowed and denied requests in sequence, each decided and receipted on its own", async () => {
  await withProxy({}, async (fx) => {
    const sent = [
      { method: "GET", target: "/one", status: 200, verdict: "allow" },
      { method: "DELETE", target: "/two", status: 403, verdict: "deny" },
      { method: "GET", target: "/three", status: 200, verdict: "allow" },
      { method: "POST", target: "/echo", body: "payload=4", status: 200, verdict: "allow" },
      { method: "GET", target: "/five", status: 200, verdict: "allow" },
    ];
    const ids: string[] = [];
    await using(await openTunnel(fx), async (t) => {
      for (const s of sent) {
        const res = await t.request(s);
        equal(res.status, s.status, `${s.method} ${s.target}: ${res.text}`);
        const id = res.headers.get(RECEIPT);
        ok(id, `${s.method} ${s.target} has no receipt header`);
        ids.push(id);
        if (s.status === 200) {
          const echoed = JSON.parse(res.text);
          equal(echoed.path, s.target);
          equal(echoed.body, s.body ?? "");
        }
      }
    });
    deepEqual(fx.seen.map((s) => `${s.method} ${s.target}`), [
      "GET /one",
      "GET /three",
      "POST /echo",
      "GET /five",
    ]);
    const rows = await receiptsById(fx);
    equal(rows.size, 5);
    equal(new Set(ids).size, 5);
    sent.forEach((s, i) => {
      const r = rows.get(ids[i]);
      ok(r, `no receipt ${ids[i]}`);
      equal(r.verdict, s.verdict, `${s.method} ${s.target}`);
      match(r.summary, new RegExp(s.target));
    });
  });
});

Deno.test("a streamed response reaches the agent chunk by chunk, before the upstream has finished", async () => {
  let secondQueued = false;
  const handler = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("first\n"));
          await sleep(500);
          secondQueued = true;
          controller.enqueue(new TextEncoder().encode("second\n"));
          controller.close();
        },
      }),
      { headers: { "content-type": "text/plain" } },
    );
  await withProxy({ handler }, async (fx) => {
    await using(await openTunnel(fx), async (t) => {
      await t.write("GET /stream HTTP/1.1\r\nHost: api.test\r\n\r\n");
      const head = await t.readHead();
      equal(head.status, 200);
      equal(head.headers.get("transfer-encoding"), "chunked");
      const first = await t.readChunk();
      equal(new TextDecoder().decode(first!), "first\n");
      equal(secondQueued, false, "the first chunk was held back until the second was produced");
      let rest = "";
      for (let c = await t.readChunk(); c; c = await t.readChunk()) {
        rest += new TextDecoder().decode(c);
      }
      equal(rest, "second\n");
      equal(secondQueued, true);
    });
    const rows = await fx.receipts();
    equal(rows[0].bytesOut, "first\nsecond\n".length);
  });
});

Deno.test("an upstream that is down gets 502 bad_gateway and a receipt with upstream status 502", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(
      await openTunnel(fx, { authority: "down.test:443" }),
      (t) => t.request({ method: "GET", target: "/", host: "down.test" }),
    );
    equal(res.status, 502);
    const body = JSON.parse(res.text);
    equal(body.error, "bad_gateway");
    match(body.reason, /cannot connect to upstream down\.test/);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "allow");
    equal(rows[0].upstreamStatus, 502);
    match(rows[0].reason, /cannot connect/);
  });
});

Deno.test("an upstream whose certificate names another host gets 502 naming the certificate problem", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(
      await openTunnel(fx, { authority: "badcert.test:443" }),
      (t) => t.request({ method: "GET", target: "/", host: "badcert.test" }),
    );
    equal(res.status, 502);
    const body = JSON.parse(res.text);
    equal(body.error, "bad_gateway");
    match(body.reason, /TLS with upstream badcert\.test.*certificate/);
    equal(fx.seen.length, 0);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].upstreamStatus, 502);
    match(rows[0].reason, /certificate/);
  });
});

const BODY_RULES = `
rule "gated-by-body" {
  endpoint  = https.api
  priority  = 10
  condition = "http.method == 'post' && http.path == '/gated' && http.body.contains('ok')"
  verdict   = "allow"
}
${DEFAULT_RULES}
`;

Deno.test("a body past body_buffer is denied by a rule that reads the body (fail closed) and streamed intact when no rule reads it", async () => {
  await withProxy({ rules: BODY_RULES, limits: 'body_buffer = "1KiB"' }, async (fx) => {
    const big = "ok" + "0123456789abcdef".repeat(100 * 64); // ~100 KiB, 'ok' inside the buffer
    await using(await openTunnel(fx), async (t) => {
      const denied = await t.request({ method: "POST", target: "/gated", body: big });
      equal(denied.status, 403);
      const body = JSON.parse(denied.text);
      equal(body.rule, "gated-by-body");
    });
    const small = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "POST", target: "/gated", body: "ok" }),
    );
    equal(small.status, 200, "the same rule allows a body that fits the buffer");
    const res = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "POST", target: "/echo", body: big }),
    );
    equal(res.status, 200, res.text);
    equal(JSON.parse(res.text).body.length, big.length);
    const echo = fx.seen.find((s) => s.target === "/echo");
    ok(echo);
    equal(echo.body.length, big.length);
    equal(echo.body, big);
    const rows = await receiptsById(fx);
    const allowed = rows.get(res.headers.get(RECEIPT)!);
    equal(allowed?.bytesIn, big.length);
  });
});

Deno.test("a 5 MiB response arrives intact", async () => {
  const big = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  await withProxy({ handler: () => new Response(big) }, async (fx) => {
    const res = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "GET", target: "/big" }, 20_000),
    );
    equal(res.status, 200);
    equal(res.body.length, big.length);
    equal(await sha256(res.body), await sha256(big));
    const rows = await fx.receipts();
    equal(rows[0].bytesOut, big.length);
  });
});

Deno.test("a plain http:// request to a host an https endpoint claims is refused, never sent in cleartext", async () => {
  await withProxy({}, async (fx) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: fx.proxyPort });
    try {
      const auth = btoa(`${fx.agent}:${fx.token}`);
      await conn.write(
        new TextEncoder().encode(
          `GET http://api.test/a HTTP/1.1\r\nHost: api.test\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`,
        ),
      );
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const text = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      match(text, /^HTTP\/1\.1 400 /);
      match(text, /takes https only/);
      equal(fx.seen.length, 0);
      const rows = await fx.receipts();
      equal(rows.length, 1);
      equal(rows[0].verdict, "deny");
      equal(rows[0].endpoint, "api");
    } finally {
      conn.close();
    }
  });
});
