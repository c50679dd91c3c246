/**
 * End-to-end behaviour of the forward proxy over raw sockets: CONNECT tunnels with TLS inside,
 * requests written by hand, so every status, header and byte the agent sees is asserted as sent.
 *
 * Here: CONNECT to a host no endpoint claims, denied or relayed blindly, and half-closes.
 *
 * @module
 */

import { equal, match } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import { basic, connect, dialProxy } from "./_raw_http.ts";
import { withTimeout } from "./_helpers.ts";
import { RECEIPT, using } from "./_http_proxy_testing.ts";

Deno.test("CONNECT to a host no endpoint claims is refused with 403 and a receipt when unknown_host = deny", async () => {
  await withProxy({ unknownHost: "deny" }, async (fx) => {
    const { conn, response } = await connect(fx, { authority: "nowhere.example:443" });
    conn.close();
    equal(response.status, 403);
    const body = JSON.parse(response.text);
    equal(body.error, "denied");
    equal(body.rule, null);
    match(body.reason, /no endpoint claims host 'nowhere\.example'/);
    equal(response.headers.get(RECEIPT), body.receipt);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "deny");
    equal(rows[0].agent, "bot");
  });
});

/** A plain TCP echo server for one connection; `done` resolves with the bytes it echoed. */
function echoServer(): { port: number; done: Promise<number>; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const c = await listener.accept();
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        total += n;
        let off = 0;
        while (off < n) off += await c.write(buf.subarray(off, n));
      }
    } finally {
      c.close();
    }
    return total;
  })();
  done.catch(() => {});
  return { port: listener.addr.port, done, close: () => listener.close() };
}

const OPAQUE = "\x00\x01 plain bytes, not a TLS ClientHello\r\n\r\n";

Deno.test("CONNECT to a host no endpoint claims relays bytes blindly when unknown_host = passthrough, with byte counts on the receipt", async () => {
  const echo = echoServer();
  try {
    await withProxy({ unknownHost: "passthrough" }, async (fx) => {
      const { conn, response } = await connect(fx, { authority: `127.0.0.1:${echo.port}` });
      await using(conn, async (c) => {
        equal(response.status, 200);
        // Not HTTP, not TLS: passthrough must not look at the bytes.
        await c.write(OPAQUE);
        equal(new TextDecoder().decode(await c.readExactly(OPAQUE.length)), OPAQUE);
        await c.write("second write");
        equal(new TextDecoder().decode(await c.readExactly(12)), "second write");
      });
      const sent = OPAQUE.length + 12;
      equal(await withTimeout(echo.done, 5_000, "the echo server"), sent);
      const rows = await fx.receipts();
      equal(rows.length, 1);
      equal(rows[0].verdict, "allow");
      equal(rows[0].agent, "bot");
      equal(rows[0].summary, `CONNECT 127.0.0.1:${echo.port} (passthrough)`);
      equal(rows[0].bytesIn, sent);
      equal(rows[0].bytesOut, sent);
    });
  } finally {
    echo.close();
  }
});

Deno.test({
  name:
    "passthrough relays a half-close: what the upstream sends after the agent's FIN still reaches the agent",
  fn: async () => {
    const echo = echoServer();
    try {
      await withProxy({ unknownHost: "passthrough" }, async (fx) => {
        const { conn, response } = await connect(fx, { authority: `127.0.0.1:${echo.port}` });
        const back = await using(conn, async (c) => {
          equal(response.status, 200);
          await c.write("hello");
          await (c.conn as Deno.TcpConn).closeWrite();
          return new TextDecoder().decode(await c.readToEnd());
        });
        equal(back, "hello");
        const rows = await fx.receipts();
        equal(rows[0].bytesOut, 5);
      });
    } finally {
      echo.close();
    }
  },
});

Deno.test({
  name: "a proxy request followed by a half-close still gets its response",
  fn: async () => {
    const plain = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("plain upstream"),
    );
    try {
      await withProxy({ unknownHost: "passthrough" }, async (fx) => {
        const authority = `127.0.0.1:${plain.addr.port}`;
        const c = await dialProxy(fx);
        const text = await using(c, async (c) => {
          await c.write(
            `GET http://${authority}/ HTTP/1.1\r\nHost: ${authority}\r\n` +
              `Proxy-Authorization: ${basic("bot", fx.token)}\r\nConnection: close\r\n\r\n`,
          );
          await (c.conn as Deno.TcpConn).closeWrite();
          return new TextDecoder().decode(await c.readToEnd());
        });
        match(text, /^HTTP\/1\.1 200 /);
        match(text, /plain upstream$/);
      });
    } finally {
      await plain.shutdown();
    }
  },
});
