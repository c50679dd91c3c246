/**
 * Request smuggling and policy evasion through the running forward proxy, with raw bytes no HTTP
 * library would send. Each case asserts the gateway's answer, that nothing it refused reached the
 * upstream, and that the refusal left a deny receipt.
 */

// Message framing: Content-Length and Transfer-Encoding conflicts, chunk sizes, framing headers
// named in Connection, h2c.

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import { openTunnel } from "./_raw_tunnel.ts";
import { assertRefused, get, post, refusedInTunnel } from "./_smuggling_fixture.ts";

Deno.test("two Content-Length fields with different values get 400 and the connection closes", async () => {
  await withProxy({}, async (fx) => {
    const body = await refusedInTunnel(
      fx,
      post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
      400,
    );
    match(body.reason, /more than one Content-Length/);
  });
});

Deno.test("two Content-Length fields with the same value get 400: duplicates are refused outright", async () => {
  await withProxy({}, async (fx) => {
    await refusedInTunnel(fx, post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400);
  });
});

Deno.test("a Content-Length list ('5, 5') gets 400", async () => {
  await withProxy({}, async (fx) => {
    const body = await refusedInTunnel(fx, post("Content-Length: 5, 5\r\n", "hello"), 400);
    match(body.reason, /Invalid Content-Length/);
  });
});

Deno.test("Content-Length together with Transfer-Encoding: chunked gets 400 (CL.TE / TE.CL)", async () => {
  await withProxy({}, async (fx) => {
    const body = await refusedInTunnel(
      fx,
      post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
      400,
    );
    match(body.reason, /both Transfer-Encoding and Content-Length/);
  });
});

Deno.test("Transfer-Encoding other than a single 'chunked' gets 501 (unknown coding) or 400 (doubled)", async () => {
  // One fixture, a fresh tunnel per request: each refusal closes its connection.
  await withProxy({}, async (fx) => {
    const chunkedBody = "5\r\nhello\r\n0\r\n\r\n";
    await refusedInTunnel(fx, post("Transfer-Encoding: gzip, chunked\r\n", chunkedBody), 501);
    await refusedInTunnel(fx, post("Transfer-Encoding: chunked, chunked\r\n", chunkedBody), 400);
    await refusedInTunnel(
      fx,
      post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunkedBody),
      400,
    );
    await refusedInTunnel(fx, post("Transfer-Encoding: xchunked\r\n", chunkedBody), 501);
    await refusedInTunnel(fx, post("Transfer-Encoding: ,chunked\r\n", chunkedBody), 400);
    // HTTP/1.0 has no chunked coding (RFC 9112 §6.1): a 1.0 server would read it differently.
    await refusedInTunnel(
      fx,
      "POST /echo HTTP/1.0\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
        chunkedBody,
      400,
    );
  });
});

Deno.test("a chunk size that overflows gets 400; a well-formed chunked body is forwarded decoded", async () => {
  await withProxy({}, async (fx) => {
    const body = await refusedInTunnel(
      fx,
      post("Transfer-Encoding: chunked\r\n", "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
      400,
    );
    match(body.reason, /Chunk size/);

    const t = await openTunnel(fx);
    try {
      await t.send(
        post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"),
      );
      const res = await t.readResponse();
      equal(res.status, 200, res.body);
      equal(JSON.parse(res.body).body, "hello world");
      equal(fx.seen.length, 1);
      equal(fx.seen[0].method, "POST");
      equal(fx.seen[0].body, "hello world");
    } finally {
      await t.close();
    }
  });
});

// Regression: a Connection header naming Content-Length used to strip the length from the
// forwarded head while the body bytes still followed, so the upstream read the body as a second,
// undecided request. The gateway now always sets the framing headers itself.
Deno.test({
  name: "a Connection header naming Content-Length cannot smuggle the body as a second request",
  fn: async () => {
    await withProxy({}, async (fx) => {
      const smuggled = "DELETE /smuggled HTTP/1.1\r\nHost: api.test\r\n\r\n";
      const t = await openTunnel(fx);
      try {
        await t.send(
          post(`Connection: content-length\r\nContent-Length: ${smuggled.length}\r\n`, smuggled),
        );
        const res = await t.readResponse().catch((err: Error) => err);
        await fx.receipts();
        // First what reached the upstream: that is the bypass; the agent's view comes second.
        deepEqual(
          fx.seen.map((r) => [r.method, r.target]),
          res instanceof Error || res.status !== 400 ? [["POST", "/echo"]] : [],
        );
        ok(fx.seen.every((r) => r.body === smuggled), "the POST kept its body");
        if (res instanceof Error) throw res;
        if (res.status === 400) {
          await assertRefused(fx, res, 400);
        } else {
          equal(res.status, 200, res.body);
          equal(JSON.parse(res.body).body, smuggled);
        }
      } finally {
        await t.close();
      }
    });
  },
});

// Regression: only WebSocket upgrades are relayed; h2c would carry HTTP/2 requests no rule sees.
Deno.test({
  name: "an h2c upgrade never reaches the upstream",
  fn: async () => {
    await withProxy({}, async (fx) => {
      const t = await openTunnel(fx);
      try {
        await t.send(
          get(
            "/h2",
            "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
              "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
          ),
        );
        const res = await t.readResponse();
        ok(res.status === 400 || res.status === 200, `status ${res.status}`);
        ok(fx.seen.every((r) => r.headers.get("upgrade") === null), "upgrade: h2c forwarded");
      } finally {
        await t.close();
      }
    });
  },
});
