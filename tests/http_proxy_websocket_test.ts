/**
 * End-to-end behaviour of the forward proxy over raw sockets: CONNECT tunnels with TLS inside,
 * requests written by hand, so every status, header and byte the agent sees is asserted as sent.
 *
 * Here: WebSocket upgrades, relayed or denied.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { DEFAULT_RULES, withProxy } from "./_proxy_fixture.ts";
import { openTunnel, type RawConn } from "./_raw_http.ts";
import { RECEIPT, using } from "./_http_proxy_testing.ts";

// WebSocket (RFC 6455) frames, just enough for a text echo.

function wsFrame(opcode: number, payload: Uint8Array): Uint8Array {
  // Clients must mask every frame (RFC 6455 §5.3).
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const len = payload.length;
  const head = len < 126
    ? [0x80 | opcode, 0x80 | len]
    : [0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff];
  const out = new Uint8Array(head.length + 4 + len);
  out.set(head);
  out.set(mask, head.length);
  for (let i = 0; i < len; i++) out[head.length + 4 + i] = payload[i] ^ mask[i % 4];
  return out;
}

async function readWsFrame(c: RawConn): Promise<{ opcode: number; payload: Uint8Array }> {
  const [b0, b1] = await c.readExactly(2);
  let len = b1 & 0x7f;
  if (len === 126) {
    const ext = await c.readExactly(2);
    len = (ext[0] << 8) | ext[1];
  } else if (len === 127) {
    throw new Error("64-bit frame lengths are not expected here");
  }
  const mask = b1 & 0x80 ? await c.readExactly(4) : null;
  const payload = await c.readExactly(len);
  if (mask) { for (let i = 0; i < len; i++) payload[i] ^= mask[i % 4]; }
  return { opcode: b0 & 0x0f, payload };
}

function wsUpgrade(path: string, key: string): string {
  return [
    `GET ${path} HTTP/1.1`,
    "Host: api.test",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    "",
    "",
  ].join("\r\n");
}

const WS_RULES = `
rule "no-denied-ws" {
  endpoint  = https.api
  priority  = 10
  condition = "http.path == '/ws-denied'"
  verdict   = "deny"
  reason    = "this socket is off limits"
}
${DEFAULT_RULES}
`;

function wsEcho(req: Request): Response {
  if (req.headers.get("upgrade") !== "websocket") {
    return new Response("not a websocket", { status: 400 });
  }
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(`echo: ${e.data}`);
  return response;
}

Deno.test("a WebSocket upgrade is relayed: frames go both ways through the tunnel", async () => {
  await withProxy({ rules: WS_RULES, handler: wsEcho }, async (fx) => {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await using(await openTunnel(fx), async (t) => {
      await t.write(wsUpgrade("/ws", key));
      const head = await t.readHead();
      equal(head.status, 101);
      equal(head.headers.get("upgrade")?.toLowerCase(), "websocket");
      const expected = await crypto.subtle.digest(
        "SHA-1",
        new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
      );
      equal(
        head.headers.get("sec-websocket-accept"),
        btoa(String.fromCharCode(...new Uint8Array(expected))),
      );
      ok(head.headers.get(RECEIPT));
      await t.write(wsFrame(0x1, new TextEncoder().encode("hello through the gateway")));
      const frame = await readWsFrame(t);
      equal(frame.opcode, 0x1);
      equal(new TextDecoder().decode(frame.payload), "echo: hello through the gateway");
      await t.write(wsFrame(0x8, new Uint8Array([0x03, 0xe8]))); // close, 1000
      const closing = await readWsFrame(t);
      equal(closing.opcode, 0x8);
    });
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].verdict, "allow");
    equal(rows[0].upstreamStatus, 101);
  });
});

Deno.test("a denied WebSocket upgrade gets 403 and never reaches the upstream", async () => {
  await withProxy({ rules: WS_RULES, handler: wsEcho }, async (fx) => {
    const key = btoa("0123456789abcdef");
    const res = await using(await openTunnel(fx), async (t) => {
      await t.write(wsUpgrade("/ws-denied", key));
      return await t.readResponse();
    });
    equal(res.status, 403);
    const body = JSON.parse(res.text);
    equal(body.rule, "no-denied-ws");
    equal(body.reason, "this socket is off limits");
    equal(fx.seen.length, 0);
  });
});
