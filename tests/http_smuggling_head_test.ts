/**
 * Request smuggling and policy evasion through the running forward proxy, with raw bytes no HTTP
 * library would send. Each case asserts the gateway's answer, that nothing it refused reached the
 * upstream, and that the refusal left a deny receipt.
 */

// Request heads no lenient parser may read differently: folded lines, bad bytes, bare LF,
// oversize heads, a Host or target that is not the tunnel's, garbage in place of a request.

import { equal, match, ok } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import { openConnect, openTunnel, proxyAuthorization } from "./_raw_tunnel.ts";
import { get, post, refusedInTunnel, refusedOnProxyPort } from "./_smuggling_fixture.ts";

Deno.test("an obs-fold header line (leading space) gets 400", async () => {
  await withProxy({}, async (fx) => {
    const body = await refusedInTunnel(fx, get("/x", "X-A: 1\r\n  folded\r\n"), 400);
    match(body.reason, /line folding/);
    // A fold that would hide a Transfer-Encoding from a lenient parser.
    await refusedInTunnel(
      fx,
      post("Content-Length: 5\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n", "hello"),
      400,
    );
  });
});

Deno.test("invalid header bytes (NUL or 0x01 in a value, space before the colon) get 400", async () => {
  await withProxy({}, async (fx) => {
    match((await refusedInTunnel(fx, get("/x", "X-A: a\x00b\r\n"), 400)).reason, /0x00/);
    match((await refusedInTunnel(fx, get("/x", "X-A: a\x01b\r\n"), 400)).reason, /0x01/);
    const spaced = "GET /x HTTP/1.1\r\nHost : api.test\r\n\r\n";
    match((await refusedInTunnel(fx, spaced, 400)).reason, /Whitespace between/);
  });
});

Deno.test("bare LF line endings get 400", async () => {
  await withProxy({}, async (fx) => {
    await refusedInTunnel(fx, "GET /x HTTP/1.1\nHost: api.test\n\n", 400);
    // Only one line bare: a lenient parser would see X-A end there and a second header start.
    await refusedInTunnel(fx, "GET /x HTTP/1.1\r\nHost: api.test\r\nX-A: 1\nX-B: 2\r\n\r\n", 400);
  });
});

Deno.test("oversize heads: a 9,000-byte target gets 414, 70 KiB of headers 431, 201 fields 431", async () => {
  await withProxy({}, async (fx) => {
    await refusedInTunnel(fx, get(`/${"a".repeat(9000)}`), 414);
    let big = "";
    for (let i = 0; i < 70; i++) big += `X-Pad-${i}: ${"p".repeat(1000)}\r\n`;
    await refusedInTunnel(fx, get("/x", big), 431);
    let many = "";
    for (let i = 0; i < 201; i++) many += `X-F-${i}: 1\r\n`;
    match((await refusedInTunnel(fx, get("/x", many), 431)).reason, /200 header fields/);
  });
});

Deno.test("a Host inside the tunnel that is not the CONNECT target, doubled or missing gets 400", async () => {
  await withProxy({}, async (fx) => {
    const evil = await refusedInTunnel(fx, "GET /x HTTP/1.1\r\nHost: evil.test\r\n\r\n", 400);
    match(evil.reason, /Host header does not match/);
    await refusedInTunnel(fx, "GET /x HTTP/1.1\r\nHost: api.test:8443\r\n\r\n", 400);
    await refusedInTunnel(fx, "GET /x HTTP/1.1\r\nHost: api.test\r\nHost: evil.test\r\n\r\n", 400);
    await refusedInTunnel(fx, "GET /x HTTP/1.1\r\nHost: api.test\r\nHost: api.test\r\n\r\n", 400);
    const none = await refusedInTunnel(fx, "GET /x HTTP/1.1\r\nX-A: 1\r\n\r\n", 400);
    match(none.reason, /no Host/);
  });
});

Deno.test("an absolute-form target whose authority differs from the tunnel or from Host gets 400", async () => {
  await withProxy({}, async (fx) => {
    const inTunnel = await refusedInTunnel(
      fx,
      "GET https://evil.test/x HTTP/1.1\r\nHost: api.test\r\n\r\n",
      400,
    );
    match(inTunnel.reason, /does not match the CONNECT target/);
    // Same host, but a scheme the tunnel is not.
    await refusedInTunnel(fx, "GET http://api.test/x HTTP/1.1\r\nHost: api.test\r\n\r\n", 400);
    const auth = proxyAuthorization(fx.agent, fx.token);
    const plain = await refusedOnProxyPort(
      fx,
      `GET http://api.test/x HTTP/1.1\r\nHost: evil.test\r\nProxy-Authorization: ${auth}\r\n\r\n`,
      [400],
    );
    match(plain.reason, /Host header does not match the request target/);
  });
});

Deno.test("garbage instead of a TLS handshake closes the tunnel with a deny receipt; the gateway keeps serving", async () => {
  await withProxy({}, async (fx) => {
    const c = await openConnect(fx);
    try {
      const garbage = crypto.getRandomValues(new Uint8Array(200));
      // 0x00 is no TLS record type, so the gateway cannot wait for a record that never completes.
      garbage[0] = 0x00;
      await c.trySend(garbage);
      ok(await c.waitClosed(3_000), "the gateway closes the tunnel");
    } finally {
      await c.close();
    }
    const refused = (await fx.receipts()).filter((r) => /TLS handshake/.test(r.reason));
    equal(refused.length, 1);
    equal(refused[0].verdict, "deny");
    equal(refused[0].agent, "bot");
    equal(fx.seen.length, 0);

    const t = await openTunnel(fx);
    try {
      await t.send(get("/after"));
      equal((await t.readResponse()).status, 200);
    } finally {
      await t.close();
    }
  });
});

Deno.test("garbage on the proxy port before any request gets 414 or 400 and the connection closes", async () => {
  await withProxy({}, async (fx) => {
    // No line end at all: the start line passes 8 KiB, so 414.
    const noLines = crypto.getRandomValues(new Uint8Array(9 * 1024));
    for (let i = 0; i < noLines.length; i++) {
      if (noLines[i] === 0x0a || noLines[i] === 0x0d) noLines[i] = 0x41;
    }
    const long = await refusedOnProxyPort(fx, noLines, [414]);
    match(long.reason, /Start line is longer/);
    // Anything goes: a stray CR or LF makes it a malformed line instead.
    await refusedOnProxyPort(fx, crypto.getRandomValues(new Uint8Array(9 * 1024)), [400, 414]);
    const receipts = await fx.receipts();
    equal(receipts.length, 2);
    ok(receipts.every((r) => r.verdict === "deny" && /^malformed request/.test(r.reason)));
  });
});
